//! Where a gRPC method's schema comes from: `.proto` files compiled in process (protox,
//! no `protoc`), a descriptor set file (`protoc --descriptor_set_out`, a "protoset"), or
//! the server's reflection service (v1, else v1alpha).

use std::path::PathBuf;

use prost::Message as _;
use prost_reflect::{DescriptorPool, MethodDescriptor};

use crate::error::ConfigError;

/// Where the schema comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `.proto` files and their import paths.
    Proto {
        /// The files.
        files: Vec<PathBuf>,
        /// Import paths (`-I`); the files' own directories are added.
        includes: Vec<PathBuf>,
    },
    /// An encoded `FileDescriptorSet`.
    Protoset(PathBuf),
    /// Ask the server.
    Reflection,
}

fn bad(why: impl Into<String>) -> ConfigError {
    ConfigError::Grpc(why.into())
}

/// The pool of `.proto` files or a protoset.
pub fn load(source: &Source) -> Result<DescriptorPool, ConfigError> {
    match source {
        Source::Proto { files, includes } => {
            let mut inc = includes.clone();
            for f in files {
                if !f.is_file() {
                    return Err(bad(format!("--proto {}: no such file", f.display())));
                }
                // protox reads the files itself: a regular file's size is checked first
                if f.metadata()
                    .is_ok_and(|m| m.len() > crate::limits::PROTO_FILE)
                {
                    let cap = crate::limits::size(crate::limits::PROTO_FILE);
                    return Err(bad(format!("--proto {}: larger than {cap}", f.display())));
                }
                if let Some(d) = f.parent() {
                    let d = if d.as_os_str().is_empty() {
                        PathBuf::from(".")
                    } else {
                        d.to_path_buf()
                    };
                    if !inc.contains(&d) {
                        inc.push(d);
                    }
                }
            }
            let names: Vec<PathBuf> = files
                .iter()
                .map(|f| {
                    f.file_name()
                        .map(PathBuf::from)
                        .unwrap_or_else(|| f.clone())
                })
                .collect();
            let fds = protox::compile(&names, &inc).map_err(|e| bad(format!("--proto: {e}")))?;
            DescriptorPool::from_file_descriptor_set(fds).map_err(|e| bad(format!("--proto: {e}")))
        }
        Source::Protoset(path) => {
            let bytes = crate::limits::read_file(path, crate::limits::PROTOSET_FILE)
                .map_err(|e| bad(format!("--protoset {}: {e}", path.display())))?;
            DescriptorPool::decode(bytes.as_slice()).map_err(|e| {
                bad(format!(
                    "--protoset {}: not a descriptor set: {e}",
                    path.display()
                ))
            })
        }
        Source::Reflection => Err(bad("reflection needs a connection: use reflect()")),
    }
}

/// `package.Service/Method` (or `package.Service.Method`) in `pool`.
pub fn method(pool: &DescriptorPool, call: &str) -> Result<MethodDescriptor, ConfigError> {
    let (service, name) = call
        .rsplit_once('/')
        .or_else(|| call.rsplit_once('.'))
        .ok_or_else(|| bad(format!("--call '{call}': expected package.Service/Method")))?;
    let s = pool
        .get_service_by_name(service.trim_start_matches('/'))
        .ok_or_else(|| {
            let known: Vec<String> = pool.services().map(|s| s.full_name().to_string()).collect();
            bad(format!(
                "--call '{call}': no service {service} (the schema has: {})",
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            ))
        })?;
    s.methods().find(|m| m.name() == name).ok_or_else(|| {
        let known: Vec<String> = s.methods().map(|m| m.name().to_string()).collect();
        bad(format!(
            "--call '{call}': {service} has no method {name} (it has: {})",
            known.join(", ")
        ))
    })
}

/// The files that define `symbol`, as the server's reflection service on `conn` describes
/// them (on a [`tokio::task::LocalSet`]: the connection's task is local).
pub async fn reflect(
    conn: &super::conn::Conn,
    symbol: &str,
) -> Result<DescriptorPool, ConfigError> {
    let (svc, origin) = conn
        .service()
        .await
        .map_err(|f| bad(format!("reflection: cannot connect: {}", f.message)))?;
    match reflect_v1(svc.clone(), origin.clone(), symbol).await {
        Err(Reflect::Unimplemented) => match reflect_v1alpha(svc, origin, symbol).await {
            Err(Reflect::Unimplemented) => Err(bad(
                "the server has no reflection service: give the schema with --proto or --protoset",
            )),
            Err(Reflect::Failed(why)) => Err(bad(why)),
            Ok(files) => pool_of(files),
        },
        Err(Reflect::Failed(why)) => Err(bad(why)),
        Ok(files) => pool_of(files),
    }
}

/// [`reflect`] on a thread of its own (its own runtime, so that it can be called from
/// anywhere), asking `target` about `symbol`, for at most `limit`.
pub fn reflect_blocking(
    target: &crate::protocol::http::HttpTarget,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    symbol: &str,
    limit: std::time::Duration,
) -> Result<DescriptorPool, ConfigError> {
    let (target, symbol) = (target.clone(), symbol.to_string());
    let ask = move || -> Result<DescriptorPool, ConfigError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| bad(format!("reflection: cannot start a runtime: {e}")))?;
        let conn = super::conn::Conn::new(&target, tls).map_err(bad)?;
        tokio::task::LocalSet::new()
            .block_on(&rt, async {
                tokio::time::timeout(limit, reflect(&conn, &symbol)).await
            })
            .map_err(|_| {
                bad(format!(
                    "reflection: {} did not answer within {} s",
                    target.url,
                    limit.as_secs()
                ))
            })?
    };
    std::thread::Builder::new()
        .name("loadgen-reflection".into())
        .spawn(ask)
        .map_err(|e| bad(format!("reflection: cannot start a thread: {e}")))?
        .join()
        .unwrap_or_else(|_| Err(bad("reflection failed")))
}

enum Reflect {
    Unimplemented,
    Failed(String),
}

fn pool_of(files: Vec<Vec<u8>>) -> Result<DescriptorPool, ConfigError> {
    let mut set = prost_types::FileDescriptorSet::default();
    let mut seen = std::collections::HashSet::new();
    for f in files {
        let fd = prost_types::FileDescriptorProto::decode(f.as_slice()).map_err(|e| {
            bad(format!(
                "reflection: a file descriptor that does not decode: {e}"
            ))
        })?;
        if seen.insert(fd.name.clone()) {
            set.file.push(fd);
        }
    }
    DescriptorPool::from_file_descriptor_set(set).map_err(|e| {
        bad(format!(
            "reflection: the server's descriptors do not make a schema: {e}"
        ))
    })
}

macro_rules! reflect_with {
    ($name:ident, $m:path) => {
        async fn $name(
            svc: super::conn::Sender,
            origin: http::Uri,
            symbol: &str,
        ) -> Result<Vec<Vec<u8>>, Reflect> {
            use $m as r;
            let mut client =
                r::server_reflection_client::ServerReflectionClient::with_origin(svc, origin);
            let req = r::ServerReflectionRequest {
                host: String::new(),
                message_request: Some(
                    r::server_reflection_request::MessageRequest::FileContainingSymbol(
                        symbol.to_string(),
                    ),
                ),
            };
            let resp = client
                .server_reflection_info(tokio_stream::iter(vec![req]))
                .await
                .map_err(|s| match s.code() {
                    tonic::Code::Unimplemented => Reflect::Unimplemented,
                    _ => Reflect::Failed(format!("reflection: {}: {}", s.code(), s.message())),
                })?;
            let mut stream = resp.into_inner();
            let msg = stream
                .message()
                .await
                .map_err(|s| Reflect::Failed(format!("reflection: {}: {}", s.code(), s.message())))?
                .ok_or_else(|| Reflect::Failed("reflection: no answer".into()))?;
            match msg.message_response {
                Some(r::server_reflection_response::MessageResponse::FileDescriptorResponse(f)) => {
                    Ok(f.file_descriptor_proto)
                }
                Some(r::server_reflection_response::MessageResponse::ErrorResponse(e)) => {
                    Err(Reflect::Failed(format!(
                        "reflection: the server does not know {symbol}: {}",
                        e.error_message
                    )))
                }
                _ => Err(Reflect::Failed(
                    "reflection: an answer that is not a file descriptor".into(),
                )),
            }
        }
    };
}

reflect_with!(reflect_v1, tonic_reflection::pb::v1);
reflect_with!(reflect_v1alpha, tonic_reflection::pb::v1alpha);
