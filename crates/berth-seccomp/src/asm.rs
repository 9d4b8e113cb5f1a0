//! A tiny assembler: the compiler builds a graph of basic blocks, identical
//! blocks are shared (hash-consing), and [`Asm::assemble`] lays the graph out
//! so that every jump goes forward, adding long jumps where a conditional
//! jump's 8-bit offset cannot reach its target.

use crate::bpf::{
    jump, stmt, SockFilter, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_K, BPF_RET,
};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

pub(crate) type BlockId = usize;

/// The multiply-rotate hash rustc uses for its own tables: the compiler's
/// keys are small integers and instruction lists, and SipHash (built to
/// resist collision attacks on untrusted keys) took half of the compile
/// time of Docker's profile. The keys come from the runtime's own config.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A HashMap with [`FxHasher`].
pub(crate) type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A conditional jump on the accumulator against a constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Cond {
    Eq,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Term {
    Ret(u32),
    Goto(BlockId),
    Jump {
        cond: Cond,
        k: u32,
        t: BlockId,
        f: BlockId,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Block {
    stmts: Vec<SockFilter>,
    term: Term,
}

#[derive(Default)]
pub(crate) struct Asm {
    blocks: Vec<Block>,
    index: FxHashMap<Block, BlockId>,
}

impl Asm {
    fn intern(&mut self, block: Block) -> BlockId {
        if let Some(&id) = self.index.get(&block) {
            return id;
        }
        let id = self.blocks.len();
        self.blocks.push(block.clone());
        self.index.insert(block, id);
        id
    }

    /// A block returning `ret`.
    pub fn ret(&mut self, ret: u32) -> BlockId {
        self.intern(Block {
            stmts: Vec::new(),
            term: Term::Ret(ret),
        })
    }

    /// `stmts`, then a conditional jump. Jumps to the same place are folded.
    pub fn branch(
        &mut self,
        stmts: Vec<SockFilter>,
        cond: Cond,
        k: u32,
        t: BlockId,
        f: BlockId,
    ) -> BlockId {
        if t == f && stmts.is_empty() {
            return t;
        }
        let term = if t == f {
            Term::Goto(t)
        } else {
            Term::Jump { cond, k, t, f }
        };
        self.intern(Block { stmts, term })
    }

    /// `stmts` executed before `target`. A return ignores the accumulator,
    /// and a block that starts by loading it does not need them either when
    /// they are loads: both are returned as they are.
    pub fn prefix(&mut self, stmts: Vec<SockFilter>, target: BlockId) -> BlockId {
        let b = &self.blocks[target];
        let loads_first = b.stmts.first().is_some_and(|s| s.code & 0x07 == 0);
        let only_loads = stmts.iter().all(|s| s.code & 0x07 == 0);
        if stmts.is_empty() || matches!(b.term, Term::Ret(_)) && b.stmts.is_empty() {
            return target;
        }
        if only_loads && loads_first {
            return target;
        }
        let mut merged = stmts;
        merged.extend(b.stmts.iter().copied());
        let term = b.term;
        self.intern(Block {
            stmts: merged,
            term,
        })
    }

    /// Lays out the blocks reachable from `entry` and resolves the jumps.
    pub fn assemble(&self, entry: BlockId) -> Vec<SockFilter> {
        // Reverse postorder of a DAG is a topological order: every jump
        // target comes after the jump. Visiting the taken branch first puts
        // the not-taken branch right after its jump, where it falls through.
        let mut order = Vec::new();
        let mut seen = vec![false; self.blocks.len()];
        let mut stack = vec![(entry, false)];
        while let Some((b, done)) = stack.pop() {
            if done {
                order.push(b);
                continue;
            }
            if seen[b] {
                continue;
            }
            seen[b] = true;
            stack.push((b, true));
            match self.blocks[b].term {
                Term::Ret(_) => {}
                Term::Goto(t) => stack.push((t, false)),
                // The stack is LIFO: push f first so t is visited first.
                Term::Jump { t, f, .. } => {
                    stack.push((f, false));
                    stack.push((t, false));
                }
            }
        }
        order.reverse();

        // Items: the laid-out blocks plus long-jump trampolines inserted
        // after a block whose conditional jump cannot reach its target.
        #[derive(Clone, Copy)]
        enum Item {
            Block(BlockId),
            // A trampoline to a block: `JA`, or a copy of its `RET`.
            Tramp(BlockId),
        }
        let mut items: Vec<Item> = order.iter().map(|&b| Item::Block(b)).collect();
        // Reused by every pass (one per trampoline added).
        let mut pos: Vec<usize> = Vec::with_capacity(2 * items.len() + 1);
        let mut block_pos = vec![usize::MAX; self.blocks.len()];
        loop {
            // Positions: each item's start, with gotos to the next item elided.
            pos.clear();
            pos.resize(items.len() + 1, 0);
            // Indexed by BlockId; only blocks in `items` are ever looked up,
            // and each of those is written below before it is read.
            for (i, item) in items.iter().enumerate() {
                let len = match *item {
                    Item::Block(b) => {
                        block_pos[b] = pos[i];
                        let next = match items.get(i + 1) {
                            Some(Item::Block(nb)) => Some(*nb),
                            _ => None,
                        };
                        self.block_len(b, next)
                    }
                    Item::Tramp(_) => 1,
                };
                pos[i + 1] = pos[i] + len;
            }
            // Find the first conditional jump that is too long.
            let mut fix = None;
            'scan: for (i, item) in items.iter().enumerate() {
                let Item::Block(b) = *item else { continue };
                let Term::Jump { t, f, .. } = self.blocks[b].term else {
                    continue;
                };
                let at = pos[i + 1] - 1; // the jump is the block's last instruction
                for target in [t, f] {
                    let dist = block_pos[target] - at - 1;
                    if dist > 255 {
                        // Reuse a trampoline to the same target within reach.
                        let reachable = items[i + 1..].iter().enumerate().any(|(j, it)| {
                            matches!(*it, Item::Tramp(x) if x == target)
                                && pos[i + 1 + j] - at - 1 <= 255
                        });
                        if !reachable {
                            fix = Some((i + 1, target));
                            break 'scan;
                        }
                    }
                }
            }
            match fix {
                Some((at, target)) => items.insert(at, Item::Tramp(target)),
                None => return self.emit(&items_to_plan(&items), &pos, &block_pos),
            }
        }

        fn items_to_plan(items: &[Item]) -> Vec<(bool, BlockId)> {
            items
                .iter()
                .map(|it| match *it {
                    Item::Block(b) => (true, b),
                    Item::Tramp(b) => (false, b),
                })
                .collect()
        }
    }

    fn block_len(&self, b: BlockId, next: Option<BlockId>) -> usize {
        let blk = &self.blocks[b];
        blk.stmts.len()
            + match blk.term {
                Term::Goto(t) if Some(t) == next => 0,
                _ => 1,
            }
    }

    fn emit(
        &self,
        plan: &[(bool, BlockId)],
        pos: &[usize],
        block_pos: &[usize],
    ) -> Vec<SockFilter> {
        let mut out = Vec::with_capacity(pos[plan.len()]);
        for (i, &(is_block, b)) in plan.iter().enumerate() {
            let here = pos[i];
            debug_assert_eq!(out.len(), here);
            if !is_block {
                // Trampoline: a copy of a bare RET is as short as a JA.
                let tgt = &self.blocks[b];
                match tgt.term {
                    Term::Ret(r) if tgt.stmts.is_empty() => out.push(stmt(BPF_RET | BPF_K, r)),
                    _ => {
                        let off = block_pos[b] - here - 1;
                        out.push(stmt(BPF_JMP | BPF_JA, off as u32));
                    }
                }
                continue;
            }
            let blk = &self.blocks[b];
            out.extend(blk.stmts.iter().copied());
            let at = out.len();
            let next = plan.get(i + 1).and_then(|&(ib, nb)| ib.then_some(nb));
            match blk.term {
                Term::Ret(r) => out.push(stmt(BPF_RET | BPF_K, r)),
                Term::Goto(t) if Some(t) == next => {}
                Term::Goto(t) => {
                    let off = block_pos[t] - at - 1;
                    out.push(stmt(BPF_JMP | BPF_JA, off as u32));
                }
                Term::Jump { cond, k, t, f } => {
                    let reach = |target: BlockId| -> u8 {
                        let direct = block_pos[target] - at - 1;
                        if direct <= 255 {
                            return direct as u8;
                        }
                        // The nearest trampoline to `target` after this jump.
                        let j = plan[i + 1..]
                            .iter()
                            .position(|&(ib, tb)| !ib && tb == target)
                            .map(|j| pos[i + 1 + j] - at - 1);
                        match j {
                            Some(d) if d <= 255 => d as u8,
                            _ => unreachable!("assemble inserts a trampoline in reach"),
                        }
                    };
                    let code = BPF_JMP
                        | BPF_K
                        | match cond {
                            Cond::Eq => BPF_JEQ,
                            Cond::Gt => BPF_JGT,
                            Cond::Ge => BPF_JGE,
                        };
                    out.push(jump(code, k, reach(t), reach(f)));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::{run, SeccompData, BPF_ABS, BPF_LD, BPF_W, OFFSET_NR};

    fn ld_nr() -> SockFilter {
        stmt(BPF_LD | BPF_W | BPF_ABS, OFFSET_NR)
    }

    #[test]
    fn long_jumps_get_trampolines() {
        // A chain of 600 "nr == i → RET i+1" tests; the final default is far
        // from the first tests, so their false branches need trampolines.
        let mut asm = Asm::default();
        let mut next = asm.ret(0xdead);
        for i in (0..600u32).rev() {
            let hit = asm.ret(i + 1);
            next = asm.branch(vec![], Cond::Eq, i, hit, next);
        }
        let entry = asm.prefix(vec![ld_nr()], next);
        let prog = asm.assemble(entry);
        for nr in [0, 1, 299, 599, 600, 10_000] {
            let d = SeccompData {
                nr,
                ..Default::default()
            };
            let want = if (0..600).contains(&nr) {
                nr as u32 + 1
            } else {
                0xdead
            };
            assert_eq!(run(&prog, &d), Ok(want), "nr {nr}");
        }
    }

    #[test]
    fn shared_blocks_are_emitted_once() {
        let mut asm = Asm::default();
        let a = asm.ret(1);
        let b = asm.ret(1);
        assert_eq!(a, b);
        let r2 = asm.ret(2);
        let j1 = asm.branch(vec![ld_nr()], Cond::Gt, 5, a, r2);
        let r2 = asm.ret(2);
        let j2 = asm.branch(vec![ld_nr()], Cond::Gt, 5, a, r2);
        assert_eq!(j1, j2);
        assert_eq!(asm.assemble(j1).len(), 4);
    }
}
