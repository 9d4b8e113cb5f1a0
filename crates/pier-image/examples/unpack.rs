//! Unpacks an image of a pier store into a directory, for the image
//! benchmark (hack/bench/images.sh), which times it against `umoci unpack`.
//!
//! Usage: unpack ROOT NAME TARGET

use pier_image::{unpack, Store};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, root, name, target] = &args[..] else {
        eprintln!("usage: unpack ROOT NAME TARGET");
        std::process::exit(2);
    };
    let res = Store::open(root)
        .map_err(|e| e.to_string())
        .and_then(|s| unpack::unpack_image(&s, name, target.as_ref()).map_err(|e| e.to_string()));
    if let Err(e) = res {
        eprintln!("unpack: {e}");
        std::process::exit(1);
    }
}
