//! WHAT one call is, per protocol: callers built on the [`Caller`](crate::Caller) trait,
//! and the wire codecs and sockets they share with the built-in servers.
//!
//! - [`calc`]: the book's arithmetic service (JSON lines over TCP);
//! - [`grpc`]: any gRPC method, its schema from .proto files, a descriptor set or
//!   reflection;
//! - [`http`]: HTTP/1.1 (a fast built-in client, or hyper) and HTTP/2, over TCP or TLS;
//! - [`stream`]: raw TCP and UDP (send a payload, compare the answer);
//! - [`ws`]: WebSocket (`ws://`, `wss://`): rtt, send and subscribe loads;
//! - [`frame`]: newline-delimited frames with a size cap;
//! - [`net`]: sockets whose reads carry the kernel's receive time.

pub mod calc;
pub mod frame;
pub mod grpc;
pub mod http;
pub mod net;
pub mod stream;
pub mod ws;
