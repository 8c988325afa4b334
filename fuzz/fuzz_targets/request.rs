//! Fuzz target: bytes arriving on sup's control socket, cut into request lines as the
//! server does, each through `sup::ctl::proto::parse_request` (JSON shape, protocol
//! version) and the checks sup makes before acting; every reply sup would send must parse
//! in supctl. The same bytes are also read as supctl reads a (hostile) server's reply and
//! stream lines. Nothing may panic, hang or exhaust memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sup::ctl::client::parse_reply;
use sup::ctl::proto::{
    parse_request, ErrorCode, Fields, Reply, Request, StreamItem, MAX_REQUEST_BYTES,
};

fuzz_target!(|data: &[u8]| {
    // The server: complete lines of at most MAX_REQUEST_BYTES; blank lines skipped.
    for line in data.split(|b| *b == b'\n') {
        if line.len() > MAX_REQUEST_BYTES || line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        server(line);
        client(line);
    }
});

fn server(line: &[u8]) {
    let reply = match parse_request(line) {
        Ok(req) => {
            let _ = req.is_read_only();
            let _ = Fields::requested(&req);
            // What supctl would send for this request reads back as the same request.
            let sent = serde_json::to_vec(&req).expect("a request serializes");
            let again: Request = serde_json::from_slice(&sent).expect("a sent request parses");
            assert_eq!(again, req);
            Reply::error(
                ErrorCode::BadRequest,
                format!("unknown command {:?}", req.cmd),
            )
        }
        Err(reply) => {
            assert!(!reply.ok, "a rejected request gets an error reply");
            reply
        }
    };
    // Every reply line sup sends parses in supctl.
    let mut sent = serde_json::to_vec(&reply).expect("a reply serializes");
    sent.push(b'\n');
    let got = parse_reply(&sent).expect("supctl parses sup's reply");
    assert_eq!(got.reply.error, reply.error);
}

fn client(line: &[u8]) {
    let _ = parse_reply(line);
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(line) {
        let _ = serde_json::from_value::<StreamItem>(json);
    }
}
