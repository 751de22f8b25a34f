//! Rooms: who is present (`db.rooms()`).

use std::collections::BTreeMap;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::auth::User;
use crate::client::{AuthMode, Call};
use crate::{Error, Instant};

/// One peer in a room.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PresencePeer {
    /// The peer (session) id.
    #[serde(rename = "peer-id", default)]
    pub peer_id: Option<String>,
    /// The presence data the peer published.
    #[serde(default)]
    pub data: Value,
    /// The signed-in user, `None` for anonymous peers.
    #[serde(default)]
    pub user: Option<User>,
    /// Other keys (e.g. `instance-id`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The rooms API (admin token only; impersonation never applies).
#[derive(Debug, Clone)]
pub struct Rooms {
    db: Instant,
}

#[derive(Deserialize)]
struct PresenceAnswer {
    #[serde(default)]
    sessions: Option<BTreeMap<String, PresencePeer>>,
}

impl Instant {
    /// The rooms API.
    pub fn rooms(&self) -> Rooms {
        Rooms { db: self.clone() }
    }
}

impl Rooms {
    /// The peers present in a room, keyed by session id (`GET /admin/rooms/presence`). An empty
    /// room gives an empty map.
    pub async fn get_presence(
        &self,
        room_type: &str,
        room_id: &str,
    ) -> Result<BTreeMap<String, PresencePeer>, Error> {
        let call = Call::new(Method::GET, "/admin/rooms/presence", AuthMode::Admin)
            .param("room-type", room_type)
            .param("room-id", room_id);
        let a: PresenceAnswer = self.db.call_decode(call).await?;
        Ok(a.sessions.unwrap_or_default())
    }
}
