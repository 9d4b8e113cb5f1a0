//! The per-architecture rule database: how several rules for one syscall
//! combine into one decision, the way libseccomp (and so runc) combines them.
//!
//! Each rule becomes a chain of 32-bit comparisons ("nodes"): one per
//! argument on 32-bit ABIs, and on 64-bit ABIs two (high word, then low word)
//! for `EQ`/`NE`/`MASKED_EQ` and three for the ordered comparisons:
//!
//! ```text
//! GT:  hi > Rh ──true──▶ match        LT:  hi > Rh ──true──▶ no match
//!        │false                              │false
//!      hi == Rh ──false─▶ no match         hi == Rh ──false─▶ match
//!        │true                               │true
//!      lo > Rl  (GE: lo >= Rl)             lo >= Rl (LE: lo > Rl): false ▶ match
//! ```
//!
//! `NE`, `LT` and `LE` are stored as `EQ`, `GE`, `GT` with the branches
//! swapped. The next argument's chain hangs off every "match" exit, so a
//! chain is a small DAG. The chains of one syscall are merged into a tree of
//! "levels": a level is a list of alternative nodes, kept in libseccomp's
//! order (higher argument index first, high word before low word, then by
//! operator and value). Evaluating a level tries its nodes in order; a node
//! whose branch leads nowhere falls through to the next node of its level,
//! and off the end of a level to the next node of the parent level, and
//! finally to the default action. Merging shares equal nodes, which is what
//! decides between rules with different actions:
//!
//! - a rule without conditions beats every conditional rule for the syscall,
//!   whatever the order; the first such rule wins;
//! - a shorter rule that is a prefix of a longer one wins, and if the longer
//!   one came first with another action the merge fails (libseccomp returns
//!   `EEXIST`, runc fails the container, and so does [`compile`]);
//! - two rules ending on the same node with different actions fail the
//!   same way, except that for a high-word `>` node the rule with the larger
//!   64-bit value sets the action.
//!
//! [`compile`]: crate::compile

use crate::arch::Arch;

/// A comparison operator (`SCMP_CMP_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    MaskedEq,
}

/// One argument condition of a rule. For `MaskedEq`, `(arg & mask) == datum`;
/// for the others `mask` is all ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ArgCmp {
    pub op: Op,
    pub mask: u64,
    pub datum: u64,
}

/// A rule: at most one condition per argument index, all of which must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    pub action: u32,
    pub args: [Option<ArgCmp>; 6],
}

pub(crate) type NodeId = usize;

/// One 32-bit comparison: `(word & mask) <op> datum`, `op` one of `Eq`,
/// `MaskedEq`, `Gt`, `Ge`.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub arg: u8,
    pub hi: bool,
    pub op: Op,
    op_orig: Op,
    pub mask: u32,
    pub datum: u32,
    datum_full: u64,
    pub nxt_t: Option<NodeId>,
    pub nxt_f: Option<NodeId>,
    pub act_t: Option<u32>,
    pub act_f: Option<u32>,
    lvl_prv: Option<NodeId>,
    pub lvl_nxt: Option<NodeId>,
}

/// What a syscall does: one action, or a tree of conditions (the id of a
/// node in its top level).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    Action(u32),
    Tree(NodeId),
}

/// The rules merged for one architecture.
pub(crate) struct ArchDb {
    pub arch: Arch,
    pub nodes: Vec<Node>,
    pub syscalls: crate::asm::FxHashMap<u32, Entry>,
}

/// libseccomp would refuse the rule (EEXIST), or its data structure would
/// have no defined meaning (it loops); the profile is rejected either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Conflict;

/// Where a level is hung: a syscall's root, or a node's true/false branch.
#[derive(Clone, Copy)]
enum Slot {
    Root(u32),
    T(NodeId),
    F(NodeId),
}

fn op_rank(op: Op) -> u32 {
    match op {
        Op::MaskedEq | Op::Eq | Op::Ne => 3,
        Op::Le | Op::Lt => 2,
        Op::Ge | Op::Gt => 1,
    }
}

impl ArchDb {
    pub fn new(arch: Arch) -> Self {
        ArchDb {
            arch,
            nodes: Vec::new(),
            syscalls: crate::asm::FxHashMap::default(),
        }
    }

    fn arg_rank(&self, n: NodeId) -> u32 {
        let n = &self.nodes[n];
        (u32::from(n.arg) << 1) | u32::from(n.hi)
    }

    /// The level order: `a` sorts after `b`.
    fn lt(&self, a: NodeId, b: NodeId) -> bool {
        let (ra, rb) = (self.arg_rank(a), self.arg_rank(b));
        if ra != rb {
            return ra < rb;
        }
        let (na, nb) = (&self.nodes[a], &self.nodes[b]);
        let (oa, ob) = (op_rank(na.op_orig), op_rank(nb.op_orig));
        if oa != ob {
            return oa < ob;
        }
        match na.op_orig {
            // Smaller bounds of `<`/`<=` go first: invert the value order.
            Op::Le | Op::Lt => na.datum > nb.datum,
            _ => na.datum < nb.datum,
        }
    }

    fn eq(&self, a: NodeId, b: NodeId) -> bool {
        let (na, nb) = (&self.nodes[a], &self.nodes[b]);
        self.arg_rank(a) == self.arg_rank(b)
            && na.op == nb.op
            && na.datum == nb.datum
            && na.mask == nb.mask
    }

    fn leaf(&self, n: NodeId) -> bool {
        self.nodes[n].nxt_t.is_none() && self.nodes[n].nxt_f.is_none()
    }

    /// The first node of the level `n` is on.
    pub fn level_head(&self, mut n: NodeId) -> Option<NodeId> {
        for _ in 0..=self.nodes.len() {
            match self.nodes[n].lvl_prv {
                Some(p) => n = p,
                None => return Some(n),
            }
        }
        None
    }

    /// The nodes of the level `n` is on, in evaluation order; `None` if the
    /// level is not a proper list.
    pub fn level(&self, n: NodeId) -> Option<Vec<NodeId>> {
        let mut cur = Some(self.level_head(n)?);
        let mut out = Vec::new();
        while let Some(c) = cur {
            if out.len() > self.nodes.len() {
                return None;
            }
            out.push(c);
            cur = self.nodes[c].lvl_nxt;
        }
        Some(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn node(
        &mut self,
        arg: u8,
        hi: bool,
        op: Op,
        op_orig: Op,
        mask: u32,
        datum: u32,
        datum_full: u64,
    ) -> NodeId {
        self.nodes.push(Node {
            arg,
            hi,
            op,
            op_orig,
            mask,
            datum: datum & mask,
            datum_full,
            nxt_t: None,
            nxt_f: None,
            act_t: None,
            act_f: None,
            lvl_prv: None,
            lvl_nxt: None,
        });
        self.nodes.len() - 1
    }

    fn link(&mut self, from: NodeId, on_true: bool, to: NodeId) {
        if on_true {
            self.nodes[from].nxt_t = Some(to);
        } else {
            self.nodes[from].nxt_f = Some(to);
        }
    }

    /// Builds the chain of a rule; `None` if it has no (non-trivial)
    /// condition. Returns the first node.
    fn chain(&mut self, rule: &Rule) -> Option<NodeId> {
        let mut root = None;
        // The exits of the chain so far that mean "match", and on which branch.
        let mut exits: Vec<(NodeId, bool)> = Vec::new();
        for (i, cmp) in rule.args.iter().enumerate() {
            let Some(cmp) = cmp else { continue };
            let arg = i as u8;
            let (lo_mask, hi_mask) = (cmp.mask as u32, (cmp.mask >> 32) as u32);
            let (lo, hi) = (cmp.datum as u32, (cmp.datum >> 32) as u32);
            let (first, new_exits) = if self.arch.args_32bit() {
                // `(arg & 0) == x` tests nothing: libseccomp drops it.
                if cmp.op == Op::MaskedEq && lo_mask == 0 {
                    continue;
                }
                let (op, on_true) = match cmp.op {
                    Op::Ne => (Op::Eq, false),
                    Op::Lt => (Op::Ge, false),
                    Op::Le => (Op::Gt, false),
                    op => (op, true),
                };
                let n = self.node(arg, false, op, cmp.op, lo_mask, lo, cmp.datum);
                (n, vec![(n, on_true)])
            } else {
                if cmp.op == Op::MaskedEq && cmp.mask == 0 {
                    continue;
                }
                match cmp.op {
                    Op::Gt | Op::Ge | Op::Lt | Op::Le => {
                        let c0 = self.node(arg, true, Op::Gt, cmp.op, hi_mask, hi, cmp.datum);
                        let c1 = self.node(arg, true, Op::Eq, cmp.op, hi_mask, hi, cmp.datum);
                        let lo_op = if matches!(cmp.op, Op::Gt | Op::Le) {
                            Op::Gt
                        } else {
                            Op::Ge
                        };
                        let c2 = self.node(arg, false, lo_op, cmp.op, lo_mask, lo, cmp.datum);
                        self.link(c0, false, c1);
                        self.link(c1, true, c2);
                        let exits = if matches!(cmp.op, Op::Gt | Op::Ge) {
                            vec![(c0, true), (c2, true)]
                        } else {
                            vec![(c1, false), (c2, false)]
                        };
                        (c0, exits)
                    }
                    Op::Eq | Op::Ne | Op::MaskedEq => {
                        let op = if cmp.op == Op::MaskedEq {
                            Op::MaskedEq
                        } else {
                            Op::Eq
                        };
                        let c0 = self.node(arg, true, op, cmp.op, hi_mask, hi, cmp.datum);
                        let c1 = self.node(arg, false, op, cmp.op, lo_mask, lo, cmp.datum);
                        self.link(c0, true, c1);
                        let exits = if cmp.op == Op::Ne {
                            vec![(c0, false), (c1, false)]
                        } else {
                            vec![(c1, true)]
                        };
                        (c0, exits)
                    }
                }
            };
            for &(n, on_true) in &exits {
                self.link(n, on_true, first);
            }
            root.get_or_insert(first);
            exits = new_exits;
        }
        if root.is_some() {
            for (n, on_true) in exits {
                if on_true {
                    self.nodes[n].act_t = Some(rule.action);
                } else {
                    self.nodes[n].act_f = Some(rule.action);
                }
            }
        }
        root
    }

    /// Adds a rule for syscall `nr`.
    pub fn add(&mut self, nr: u32, rule: &Rule) -> Result<(), Conflict> {
        let chain = self.chain(rule);
        match (self.syscalls.get(&nr).copied(), chain) {
            (None, None) => {
                self.syscalls.insert(nr, Entry::Action(rule.action));
            }
            (None, Some(c)) => {
                self.syscalls.insert(nr, Entry::Tree(c));
            }
            // An unconditional rule already decides the syscall.
            (Some(Entry::Action(_)), _) => {}
            // An unconditional rule replaces every conditional one.
            (Some(Entry::Tree(_)), None) => {
                self.syscalls.insert(nr, Entry::Action(rule.action));
            }
            (Some(Entry::Tree(_)), Some(c)) => self.merge(Slot::Root(nr), c)?,
        }
        Ok(())
    }

    fn slot(&self, s: Slot) -> Option<NodeId> {
        match s {
            Slot::Root(nr) => match self.syscalls.get(&nr) {
                Some(Entry::Tree(n)) => Some(*n),
                _ => None,
            },
            Slot::T(n) => self.nodes[n].nxt_t,
            Slot::F(n) => self.nodes[n].nxt_f,
        }
    }

    fn set_slot(&mut self, s: Slot, to: NodeId) {
        match s {
            Slot::Root(nr) => {
                self.syscalls.insert(nr, Entry::Tree(to));
            }
            Slot::T(n) => self.nodes[n].nxt_t = Some(to),
            Slot::F(n) => self.nodes[n].nxt_f = Some(to),
        }
    }

    /// Whether every action in the tree below (and including the level of)
    /// `n` is `action`.
    fn all_actions_are(
        &self,
        n: Option<NodeId>,
        action: u32,
        depth: usize,
    ) -> Result<bool, Conflict> {
        let Some(n) = n else { return Ok(true) };
        if depth > 64 {
            return Err(Conflict);
        }
        for c in self.level(n).ok_or(Conflict)? {
            let node = &self.nodes[c];
            if node.act_t.is_some_and(|a| a != action) || node.act_f.is_some_and(|a| a != action) {
                return Ok(false);
            }
            if !self.all_actions_are(node.nxt_t, action, depth + 1)?
                || !self.all_actions_are(node.nxt_f, action, depth + 1)?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Merges the chain starting at `n` into the level hung at `slot`.
    fn merge(&mut self, slot: Slot, n: NodeId) -> Result<(), Conflict> {
        let mut x = self.slot(slot).ok_or(Conflict)?;
        for _ in 0..=self.nodes.len() {
            if x == n {
                // Reached again through another exit of the same chain.
                return Ok(());
            }
            if self.eq(x, n) {
                if let Some(na) = self.nodes[n].act_t {
                    match self.nodes[x].act_t {
                        None => {
                            if !self.all_actions_are(self.nodes[x].nxt_t, na, 0)? {
                                return Err(Conflict);
                            }
                            self.nodes[x].nxt_t = None;
                            self.nodes[x].act_t = Some(na);
                        }
                        Some(xa) if xa != na => {
                            // libseccomp lets the larger 64-bit bound of a
                            // high-word `>` decide.
                            if self.nodes[n].hi
                                && self.nodes[n].datum_full > self.nodes[x].datum_full
                            {
                                self.nodes[x].act_t = Some(na);
                            }
                            if self.leaf(x) || self.leaf(n) {
                                return Err(Conflict);
                            }
                        }
                        Some(_) => {}
                    }
                }
                if let Some(na) = self.nodes[n].act_f {
                    match self.nodes[x].act_f {
                        None => {
                            if !self.all_actions_are(self.nodes[x].nxt_f, na, 0)? {
                                return Err(Conflict);
                            }
                            self.nodes[x].nxt_f = None;
                            self.nodes[x].act_f = Some(na);
                        }
                        Some(xa) if xa != na => {
                            if self.leaf(x) || self.leaf(n) {
                                return Err(Conflict);
                            }
                        }
                        Some(_) => {}
                    }
                }
                if let Some(nt) = self.nodes[n].nxt_t {
                    if self.nodes[x].nxt_t.is_some() {
                        self.merge(Slot::T(x), nt)?;
                    } else if self.nodes[x].act_t.is_none() {
                        self.nodes[x].nxt_t = Some(nt);
                    } else {
                        // The existing rule is shorter and decides.
                        return Ok(());
                    }
                }
                if let Some(nf) = self.nodes[n].nxt_f {
                    if self.nodes[x].nxt_f.is_some() {
                        self.merge(Slot::F(x), nf)?;
                    } else if self.nodes[x].act_f.is_none() {
                        self.nodes[x].nxt_f = Some(nf);
                    } else {
                        return Ok(());
                    }
                }
                return Ok(());
            }
            // The new node is already on this level: linked there through
            // another exit of the same chain (a level shared by two parents
            // starts mid-list for one of them). Nothing left to do; libseccomp
            // 2.5 links it a second time and loops forever on its corrupted
            // list, so runc hangs on these profiles.
            let on_level = |db: &Self| db.level(x).is_some_and(|l| l.contains(&n));
            if !self.lt(x, n) {
                match self.nodes[x].lvl_nxt {
                    Some(next) => x = next,
                    None => {
                        if on_level(self) {
                            return Ok(());
                        }
                        self.nodes[x].lvl_nxt = Some(n);
                        self.nodes[n].lvl_prv = Some(x);
                        return Ok(());
                    }
                }
            } else {
                if on_level(self) {
                    return Ok(());
                }
                let prev = self.nodes[x].lvl_prv;
                if let Some(p) = prev {
                    self.nodes[p].lvl_nxt = Some(n);
                }
                self.nodes[n].lvl_prv = prev;
                self.nodes[x].lvl_prv = Some(n);
                self.nodes[n].lvl_nxt = Some(x);
                if self.slot(slot) == Some(x) {
                    self.set_slot(slot, n);
                }
                return Ok(());
            }
        }
        Err(Conflict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(action: u32, args: &[(usize, Op, u64)]) -> Rule {
        let mut r = Rule {
            action,
            args: [None; 6],
        };
        for &(i, op, v) in args {
            r.args[i] = Some(ArgCmp {
                op,
                mask: u64::MAX,
                datum: v,
            });
        }
        r
    }

    #[test]
    fn unconditional_rule_wins_in_any_order() {
        let mut db = ArchDb::new(Arch::X86_64);
        db.add(1, &rule(10, &[(0, Op::Eq, 1)])).unwrap();
        db.add(1, &rule(20, &[])).unwrap();
        db.add(1, &rule(30, &[(0, Op::Eq, 2)])).unwrap();
        assert_eq!(db.syscalls[&1], Entry::Action(20));
    }

    #[test]
    fn longer_rule_after_shorter_with_other_action_conflicts() {
        let mut db = ArchDb::new(Arch::X86_64);
        db.add(1, &rule(10, &[(0, Op::Eq, 1), (1, Op::Eq, 2)]))
            .unwrap();
        assert_eq!(db.add(1, &rule(20, &[(0, Op::Eq, 1)])), Err(Conflict));
        let mut db = ArchDb::new(Arch::X86_64);
        db.add(1, &rule(20, &[(0, Op::Eq, 1)])).unwrap();
        db.add(1, &rule(10, &[(0, Op::Eq, 1), (1, Op::Eq, 2)]))
            .unwrap();
    }

    #[test]
    fn shared_level_reached_twice_is_merged_once() {
        // libseccomp 2.5.4 hangs on this pair of rules.
        let mut db = ArchDb::new(Arch::X86_64);
        db.add(1, &rule(10, &[(0, Op::Gt, 5), (1, Op::Eq, 1)]))
            .unwrap();
        db.add(1, &rule(10, &[(0, Op::Gt, 5), (1, Op::Eq, 0x2_0000_0000)]))
            .unwrap();
        for n in 0..db.nodes.len() {
            assert!(db.level(n).is_some());
        }
    }

    #[test]
    fn same_test_different_action_conflicts() {
        let mut db = ArchDb::new(Arch::X86);
        db.add(1, &rule(10, &[(0, Op::Eq, 1)])).unwrap();
        assert_eq!(db.add(1, &rule(20, &[(0, Op::Eq, 1)])), Err(Conflict));
        db.add(1, &rule(10, &[(0, Op::Eq, 1)])).unwrap();
    }
}
