//! A custom caller: copy this file to load your own protocol.
//!
//! It sends `{"id":…,"operands":[i,2],"operator":"*"}` lines to the built-in calc server
//! over one connection per call and checks the doubled result. Run it with
//! `cargo run --example custom_caller`.

use std::time::{Duration, Instant};

use loadgen::{Caller, Failure, Load, LoadGen, Plan, Schedule, Target, ThreadContext};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Doubler {
    addr: std::net::SocketAddr,
}

impl Caller for Doubler {
    type Request = i64;
    type Response = serde_json::Value;

    fn build(&self, load: Load) -> i64 {
        load.index as i64
    }

    async fn call(&self, n: &i64, _deadline: Instant) -> Result<serde_json::Value, Failure> {
        let mut conn = BufReader::new(TcpStream::connect(self.addr).await?);
        let line = format!("{{\"id\":{n},\"operands\":[{n},2],\"operator\":\"*\"}}\n");
        conn.get_mut().write_all(line.as_bytes()).await?;
        let mut answer = String::new();
        conn.read_line(&mut answer).await?;
        serde_json::from_str(&answer).map_err(|e| Failure::response(e.to_string()))
    }

    fn check(&self, _load: Load, n: &i64, resp: &serde_json::Value) -> Result<(), Failure> {
        if !resp["error"].is_null() {
            return Err(Failure::callee(resp["error"].to_string()));
        }
        match resp["result"].as_i64() {
            Some(r) if r == n * 2 => Ok(()),
            _ => Err(Failure::response("wrong result")),
        }
    }
}

fn main() {
    let server = loadgen_servers::spawn("127.0.0.1:0".parse().unwrap(), 1, |l, stop| {
        loadgen_servers::calc::run(l, Default::default(), loadgen_servers::until_true(stop))
    })
    .expect("start the calc server");
    let addr = server.addr();
    let schedule = Schedule::constant(200.0, Duration::from_secs(2)).expect("a valid schedule");
    let target = Target {
        name: format!("calc://{addr}"),
        weight: 1,
    };
    let plan = Plan::new(
        schedule,
        Duration::from_millis(100),
        vec![target],
        "doubler",
    );
    let lg = LoadGen::new(plan, move |_: &ThreadContext| Doubler { addr }).expect("a valid plan");
    let summary = lg.run().expect("the run completes");
    loadgen::report::text::write(&summary, &mut std::io::stdout()).expect("stdout");
}
