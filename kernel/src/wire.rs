//! Reading requests off a ROUTER socket: framing, HMAC-SHA256 verification and lenient parsing.
//!
//! jupyter-zmq-client's typed `read` fails on a request that omits optional fields (jupyter_client sends a history
//! `search` without `unique`, for one) and gives no way to tell a bad signature from a dead socket. Here a message is
//! split into frames, its signature checked against the connection key, and its header and content parsed into JSON
//! first: the kernel answers from the raw content, so a field the typed schema wants but the client left out costs
//! nothing. Messages with a bad or missing signature are dropped and logged; the loop goes on.

use bytes::Bytes;
use jupyter_protocol::{Header, JupyterMessage, JupyterMessageContent, UnknownMessage};
use jupyter_zmq_client::Connection;
use serde_json::{Map, Value};

const DELIMITER: &[u8] = b"<IDS|MSG>";

/// One request: the typed message (for replies: identities, header, session) and its content as sent.
#[derive(Clone)]
pub struct Request {
    pub message: JupyterMessage,
    pub content: Value,
}

impl Request {
    pub fn msg_type(&self) -> &str {
        &self.message.header.msg_type
    }
    pub fn str(&self, key: &str) -> &str {
        self.content.get(key).and_then(Value::as_str).unwrap_or("")
    }
    pub fn bool(&self, key: &str, default: bool) -> bool {
        self.content.get(key).and_then(Value::as_bool).unwrap_or(default)
    }
    pub fn int(&self, key: &str) -> Option<i64> {
        self.content.get(key).and_then(Value::as_i64)
    }
}

/// What came off the socket.
pub enum Incoming {
    Request(Box<Request>),
    /// A message that was not taken, with the reason (bad signature, broken framing, unparsable header).
    Rejected(String),
}

/// Receives one message. Errors are socket errors only (the connection is gone).
pub async fn read<S: zeromq::SocketRecv>(conn: &mut Connection<S>) -> Result<Incoming, zeromq::ZmqError> {
    let frames = conn.socket.recv().await?.into_vec();
    Ok(match parse(frames, conn.mac.as_ref()) {
        Ok(r) => Incoming::Request(Box::new(r)),
        Err(why) => Incoming::Rejected(why),
    })
}

/// The next request on `conn`: rejected messages are logged (naming `channel`) and skipped; `None` once the socket
/// is gone.
pub async fn next_request<S: zeromq::SocketRecv>(conn: &mut Connection<S>, channel: &str) -> Option<Box<Request>> {
    loop {
        match read(conn).await {
            Ok(Incoming::Request(r)) => return Some(r),
            Ok(Incoming::Rejected(why)) => eprintln!("gscript kernel: {channel}: rejected a message: {why}"),
            Err(e) => {
                eprintln!("gscript kernel: {channel}: {e}");
                return None;
            }
        }
    }
}

/// Frames → request, verifying the signature when the connection has a key.
pub fn parse(frames: Vec<Bytes>, key: Option<&ring::hmac::Key>) -> Result<Request, String> {
    let split = frames.iter().position(|f| f.as_ref() == DELIMITER).ok_or("no <IDS|MSG> delimiter")?;
    let identities = frames[..split].to_vec();
    let parts = &frames[split + 1..];
    if parts.len() < 5 {
        return Err(format!("{} frames after the delimiter, expected at least 5", parts.len()));
    }
    if let Some(key) = key {
        let signature = data_encoding::HEXLOWER_PERMISSIVE.decode(&parts[0]).map_err(|_| "the signature is not hex")?;
        let mut signed = Vec::new();
        for part in &parts[1..5] {
            signed.extend_from_slice(part);
        }
        ring::hmac::verify(key, &signed, &signature).map_err(|_| "bad HMAC-SHA256 signature".to_string())?;
    }
    let header = parse_header(&parts[1])?;
    let parent_header =
        serde_json::from_slice::<Value>(&parts[2]).ok().and_then(|v| serde_json::from_value::<Header>(v).ok());
    let metadata = serde_json::from_slice::<Value>(&parts[3]).unwrap_or(Value::Object(Map::new()));
    let content = serde_json::from_slice::<Value>(&parts[4]).map_err(|e| format!("content is not JSON: {e}"))?;
    let typed = JupyterMessageContent::from_type_and_content(&header.msg_type, content.clone()).unwrap_or_else(|_| {
        JupyterMessageContent::UnknownMessage(UnknownMessage {
            msg_type: header.msg_type.clone(),
            content: content.clone(),
        })
    });
    let message = JupyterMessage {
        zmq_identities: identities,
        header,
        parent_header,
        metadata,
        content: typed,
        buffers: parts[5..].to_vec(),
        channel: None,
    };
    Ok(Request { message, content })
}

/// The header, with missing string fields filled in (only msg_type is required).
fn parse_header(bytes: &[u8]) -> Result<Header, String> {
    let mut v: Value = serde_json::from_slice(bytes).map_err(|e| format!("header is not JSON: {e}"))?;
    let obj = v.as_object_mut().ok_or("header is not an object")?;
    if !obj.get("msg_type").is_some_and(Value::is_string) {
        return Err("header has no msg_type".into());
    }
    for (k, default) in [("msg_id", ""), ("username", ""), ("session", ""), ("version", "5.3")] {
        if !obj.get(k).is_some_and(Value::is_string) {
            obj.insert(k.into(), Value::String(default.into()));
        }
    }
    serde_json::from_value(v).map_err(|e| format!("header: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(key: Option<&ring::hmac::Key>, header: &str, content: &str, tamper: bool) -> Vec<Bytes> {
        let parts = [header.as_bytes(), b"{}", b"{}", content.as_bytes()];
        let sig = match key {
            Some(k) => {
                let mut ctx = ring::hmac::Context::with_key(k);
                for p in parts {
                    ctx.update(p);
                }
                data_encoding::HEXLOWER.encode(ctx.sign().as_ref())
            }
            None => String::new(),
        };
        let mut f = vec![Bytes::from_static(b"client-id"), Bytes::from_static(DELIMITER), Bytes::from(sig)];
        f.extend(parts.iter().map(|p| Bytes::copy_from_slice(p)));
        if tamper {
            f[6] = Bytes::from_static(b"{\"code\": \"evil\"}");
        }
        f
    }

    const HEADER: &str =
        r#"{"msg_id": "1", "msg_type": "history_request", "session": "s", "username": "u", "version": "5.3"}"#;

    #[test]
    fn verifies_signatures_and_tolerates_missing_fields() {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"secret");
        // jupyter_client's search request has no `unique` and no `n`: the typed schema would reject it
        let content = r#"{"hist_access_type": "search", "pattern": "x*", "output": false, "raw": true}"#;
        let r = parse(frames(Some(&key), HEADER, content, false), Some(&key)).unwrap();
        assert_eq!(r.msg_type(), "history_request");
        assert_eq!(r.str("pattern"), "x*");
        assert_eq!(r.message.zmq_identities, vec![Bytes::from_static(b"client-id")]);

        let err = parse(frames(Some(&key), HEADER, content, true), Some(&key)).err().unwrap();
        assert!(err.contains("bad HMAC"), "{err}");
        let other = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"other");
        assert!(parse(frames(Some(&other), HEADER, content, false), Some(&key)).is_err());
        assert!(
            parse(frames(None, HEADER, content, false), Some(&key)).is_err(),
            "an unsigned message must not pass a keyed connection"
        );
        // no key: no check
        assert!(parse(frames(None, HEADER, content, false), None).is_ok());
    }

    #[test]
    fn broken_framing_is_rejected_with_a_reason() {
        let f = vec![Bytes::from_static(b"id"), Bytes::from_static(b"{}")];
        assert!(parse(f, None).err().unwrap().contains("delimiter"));
        let mut f = frames(None, HEADER, "{}", false);
        f.truncate(5);
        assert!(parse(f, None).err().unwrap().contains("frames"));
        let f = frames(None, r#"{"msg_id": "1"}"#, "{}", false);
        assert!(parse(f, None).err().unwrap().contains("msg_type"));
        let f = frames(None, HEADER, "not json", false);
        assert!(parse(f, None).err().unwrap().contains("content"));
    }
}
