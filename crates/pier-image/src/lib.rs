//! pier's images: references, the registry client, the content store (an
//! OCI image layout) and secure layer unpacking.

pub mod archive;
pub mod auth;
pub mod bundle;
pub mod digest;
pub mod images;
pub mod platform;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registry;
pub mod snapshot;
pub mod store;
pub mod unpack;

pub use auth::{AuthFile, Credentials};
pub use platform::Platform;
pub use reference::Reference;
pub use registry::Client;
pub use store::Store;
