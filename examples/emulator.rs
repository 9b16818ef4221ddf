//! Runs one of the test emulators on 127.0.0.1 until standard input
//! closes, printing the variables that point `haul` at it: for trying a
//! provider without an account, or measuring `haul` against it.
//!
//! ```text
//! cargo run --release --example emulator -- tcb > env.sh   # or nos, easemob
//! . ./env.sh && haul cp big.bin tcb://$TCB_ENV/big.bin
//! ```

use std::io::Read;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let which = std::env::args().nth(1).unwrap_or_default();
    // Each server stops when dropped: keep it until stdin closes.
    let (env, _keep): (Vec<(&str, String)>, Box<dyn std::any::Any>) = match which.as_str() {
        "tcb" => {
            let s = haul_testkit::tcb::TcbServer::start();
            (s.env(), Box::new(s))
        }
        "nos" => {
            let s = haul_testkit::nos::NosServer::start();
            (s.env(), Box::new(s))
        }
        "easemob" => {
            let s = haul_testkit::easemob::EasemobServer::start();
            (s.env(), Box::new(s))
        }
        other => return Err(format!("usage: emulator tcb|nos|easemob (not {other:?})").into()),
    };
    for (k, v) in env {
        println!("export {k}={v}");
    }
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    Ok(())
}
