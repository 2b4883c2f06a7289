//! The daemon's host level: the registry of pacts it holds open, the current pact, and the
//! operations of the control plane's `Host` service.

use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use openpact_ledger::{Clock, Code, MemberKey, PactId, WriterConfig};
use openpact_proto::v1;
use tokio::sync::watch;

use crate::datadir::{self, DataDir, PactConfig, PactEntry};
use crate::error::{ApiError, Result};
use crate::events::EventBus;
use crate::net::Net;
use crate::pact::invites::InviteToken;
use crate::pact::{self, NewPact, OpenPact};

/// A registered pact: open, or failed to open (its requests answer the failure).
#[derive(Clone)]
enum Slot {
    Open(Arc<OpenPact>),
    Failed { entry: PactEntry, error: ApiError },
}

impl Slot {
    fn alias(&self) -> String {
        match self {
            Slot::Open(p) => p.alias(),
            Slot::Failed { entry, .. } => entry.alias.clone(),
        }
    }

    fn pact_id(&self) -> String {
        match self {
            Slot::Open(p) => p.id.to_hex(),
            Slot::Failed { entry, .. } => entry.pact_id.clone(),
        }
    }
}

/// Ports the daemon serves besides the socket. Asked for: REST port 0 is any free port; once
/// bound, the ports really served.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ports {
    /// REST.
    pub rest: u16,
    /// Dashboard and gRPC-web; `None`: not served, `Some(0)`: any free port.
    pub dashboard: Option<u16>,
}

/// The daemon's state, shared by every service.
pub struct Daemon {
    /// The data dir.
    pub dir: DataDir,
    /// Every event of every pact.
    pub bus: Arc<EventBus>,
    slots: RwLock<Vec<Slot>>,
    current: RwLock<Option<String>>,
    clock: Arc<dyn Clock>,
    writer_config: WriterConfig,
    started: Instant,
    ports: Ports,
    /// Serialises registry changes (create, rename, delete, switch).
    registry: tokio::sync::Mutex<()>,
    stop: watch::Sender<bool>,
    net: OnceLock<Arc<Net>>,
}

fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Resident memory of this process, from /proc (0 where unavailable).
pub fn resident_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

impl Daemon {
    /// Loads the registry and opens every pact. A pact that fails to open is kept in the
    /// registry, untouched, and its requests answer why. Must run inside a tokio runtime.
    pub fn start(
        dir: DataDir,
        clock: Arc<dyn Clock>,
        writer_config: WriterConfig,
        ports: Ports,
    ) -> Result<Arc<Daemon>> {
        let file = dir.load()?;
        let bus = Arc::new(EventBus::new());
        let mut slots = Vec::new();
        for entry in &file.pacts {
            let slot = match OpenPact::open(
                &dir,
                entry,
                clock.clone(),
                bus.clone(),
                writer_config.clone(),
            ) {
                Ok(p) => Slot::Open(p),
                Err(error) => {
                    tracing::error!(alias = %entry.alias, error = %error, "cannot open pact");
                    Slot::Failed {
                        entry: entry.clone(),
                        error,
                    }
                }
            };
            slots.push(slot);
        }
        let (stop, _) = watch::channel(false);
        Ok(Arc::new(Daemon {
            dir,
            bus,
            slots: RwLock::new(slots),
            current: RwLock::new(file.current_alias.clone()),
            clock,
            writer_config,
            started: Instant::now(),
            ports,
            registry: tokio::sync::Mutex::new(()),
            stop,
            net: OnceLock::new(),
        }))
    }

    fn slots(&self) -> Vec<Slot> {
        self.slots.read().map(|s| s.clone()).unwrap_or_default()
    }

    fn current_alias(&self) -> Option<String> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// The pact named by alias or 64-hex id; the current pact when `pact` is empty.
    pub fn resolve(&self, pact: &str) -> Result<Arc<OpenPact>> {
        let slots = self.slots();
        let wanted = if pact.is_empty() {
            self.current_alias().ok_or_else(|| {
                ApiError::new(
                    Code::UnknownPact,
                    "No current pact: create one (`openpact init`, or CreatePact) or name one (--pact, or the request's pact).",
                )
            })?
        } else {
            pact.to_string()
        };
        let slot = slots
            .iter()
            .find(|s| s.alias() == wanted)
            .or_else(|| slots.iter().find(|s| s.pact_id() == wanted))
            .ok_or_else(|| ApiError::unknown_pact(&wanted))?;
        match slot {
            Slot::Open(p) => Ok(p.clone()),
            Slot::Failed { error, .. } => Err(error.clone()),
        }
    }

    /// Every open pact.
    pub fn open_pacts(&self) -> Vec<Arc<OpenPact>> {
        self.slots()
            .into_iter()
            .filter_map(|s| match s {
                Slot::Open(p) => Some(p),
                Slot::Failed { .. } => None,
            })
            .collect()
    }

    /// Asks the daemon to stop; [`Daemon::stopped`] resolves.
    pub fn request_stop(&self) {
        self.stop.send_replace(true);
    }

    /// A receiver that turns true when the daemon stops.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Stops every pact's writer after the appends it already took.
    pub fn close_all(&self) {
        for p in self.open_pacts() {
            p.shutdown();
        }
    }

    /// `Ping`.
    pub fn ping(&self) -> v1::PingResponse {
        v1::PingResponse {
            ok: true,
            data_dir: self.dir.root().display().to_string(),
            pid: std::process::id(),
            version: version(),
        }
    }

    /// `Ready`.
    pub fn ready(&self) -> v1::ReadyResponse {
        let n = self.slots().len() as u32;
        v1::ReadyResponse {
            ok: n > 0,
            status: if n > 0 { "ready" } else { "not-ready" }.to_string(),
            pact_count: n,
            agents: self.peer_count(),
        }
    }

    /// `Status`.
    pub fn status(&self) -> v1::HostStatusResponse {
        let slots = self.slots();
        v1::HostStatusResponse {
            current: self.current_alias(),
            agents: self.peer_count(),
            pact_count: slots.len() as u32,
            pid: std::process::id(),
            data_dir: self.dir.root().display().to_string(),
            version: version(),
            port: u32::from(self.ports.rest),
            dashboard_port: u32::from(self.ports.dashboard.unwrap_or(0)),
            uptime_ms: self.started.elapsed().as_millis() as u64,
            pacts_open: slots.iter().filter(|s| matches!(s, Slot::Open(_))).count() as u32,
            resident_memory_bytes: resident_memory_bytes(),
        }
    }

    /// `ListPacts`: registry order, with each pact's local config.
    pub fn list_pacts(&self) -> v1::ListPactsResponse {
        let current = self.current_alias();
        let pacts = self
            .slots()
            .iter()
            .map(|s| {
                let alias = s.alias();
                let (added_at, config) = match s {
                    Slot::Open(p) => (p.added_at.clone(), Some(p.config())),
                    Slot::Failed { entry, .. } => {
                        (entry.added_at.clone(), self.dir.read_config(&alias).ok())
                    }
                };
                let role = match s {
                    Slot::Open(p) => p
                        .reader()
                        .ok()
                        .and_then(|r| p.role(&r).ok().flatten())
                        .map(str::to_string),
                    Slot::Failed { .. } => config.as_ref().and_then(|c| c.role.clone()),
                };
                v1::PactSummary {
                    is_current: current.as_deref() == Some(alias.as_str()),
                    data_dir: self.dir.pact_dir(&alias).display().to_string(),
                    pact_id: s.pact_id(),
                    added_at,
                    pact_name: config.as_ref().and_then(|c| c.pact_name.clone()),
                    pact_purpose: config.as_ref().and_then(|c| c.pact_purpose.clone()),
                    display_name: config.as_ref().and_then(|c| c.display_name.clone()),
                    role,
                    alias,
                }
            })
            .collect();
        v1::ListPactsResponse { current, pacts }
    }

    /// `CreatePact`.
    pub async fn create_pact(&self, req: v1::CreatePactRequest) -> Result<v1::CreatePactResponse> {
        if !req.confirm {
            return Err(ApiError::new(
                Code::NotConfirmed,
                "creating a pact needs confirm: true",
            ));
        }
        let name = req.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(ApiError::bad_request("name must be 1 to 64 characters"));
        }
        if req
            .purpose
            .as_ref()
            .is_some_and(|p| p.chars().count() > 200)
        {
            return Err(ApiError::bad_request(
                "purpose must be at most 200 characters",
            ));
        }
        if req
            .display_name
            .as_ref()
            .is_some_and(|d| d.chars().count() > 64)
        {
            return Err(ApiError::bad_request(
                "display_name must be at most 64 characters",
            ));
        }
        if let Some(a) = &req.alias {
            datadir::validate_alias(a)?;
        }
        crate::pact::check_claim_ttl(Some(req.claim_ttl_ms).filter(|t| *t != 0))?;
        let _guard = self.registry.lock().await;
        let _changing = self.bus.changing();
        let taken = |a: &str| self.slots().iter().any(|s| s.alias() == a);
        let alias = match &req.alias {
            Some(a) if taken(a) && req.force => {
                self.delete_locked(a).await?;
                a.clone()
            }
            Some(a) if taken(a) => {
                return Err(ApiError::new(
                    Code::PactAliasExists,
                    format!(
                        "a pact named {a} already exists. Pass --force to replace it, or --alias to pick another"
                    ),
                ));
            }
            Some(a) => a.clone(),
            None => datadir::slug_alias(&name, |a| taken(a) || self.dir.pact_dir(a).exists()),
        };
        let new = NewPact {
            name: name.clone(),
            purpose: req.purpose.clone().filter(|p| !p.trim().is_empty()),
            display_name: req.display_name.clone().filter(|d| !d.is_empty()),
            claim_ttl_ms: req.claim_ttl_ms,
        };
        let (dir, clock, a) = (self.dir.clone(), self.clock.clone(), alias.clone());
        let entry =
            tokio::task::spawn_blocking(move || pact::create_files(&dir, &a, &new, &*clock))
                .await
                .map_err(|e| ApiError::internal(format!("pact creation panicked: {e}")))??;
        let opened = self.add_slot(&entry)?;
        if let Some(net) = self.net() {
            // Announce the new pact at the seeds now.
            net.rediscover();
        }
        let config = opened.config();
        Ok(v1::CreatePactResponse {
            ok: true,
            alias: alias.clone(),
            pact_id: opened.id.to_hex(),
            pact_name: name,
            pact_purpose: config.pact_purpose,
            display_name: config.display_name,
            peer_handle: opened.me.handle(),
            role: "creator".to_string(),
            public_key: opened.me.to_hex(),
            data_dir: opened.dir().display().to_string(),
            is_current: self.current_alias().as_deref() == Some(alias.as_str()),
        })
    }

    /// Opens a pact whose files were just made, records it in `daemon.json` (current when no
    /// pact is) and in the open slots. On failure its files are removed again.
    fn add_slot(&self, entry: &PactEntry) -> Result<Arc<OpenPact>> {
        let alias = entry.alias.clone();
        let opened = match OpenPact::open(
            &self.dir,
            entry,
            self.clock.clone(),
            self.bus.clone(),
            self.writer_config.clone(),
        ) {
            Ok(p) => p,
            Err(e) => {
                let _ = std::fs::remove_dir_all(self.dir.pact_dir(&alias));
                return Err(e);
            }
        };
        let became_current = self.dir.update(|f| {
            f.pacts.push(entry.clone());
            if f.current_alias.is_none() {
                f.current_alias = Some(alias.clone());
                Ok(true)
            } else {
                Ok(false)
            }
        });
        let became_current = match became_current {
            Ok(c) => c,
            Err(e) => {
                opened.shutdown();
                let _ = std::fs::remove_dir_all(self.dir.pact_dir(&alias));
                return Err(e);
            }
        };
        if let Ok(mut s) = self.slots.write() {
            s.push(Slot::Open(opened.clone()));
        }
        if became_current && let Ok(mut c) = self.current.write() {
            *c = Some(alias);
        }
        Ok(opened)
    }

    /// Live peer sessions, every pact together.
    fn peer_count(&self) -> u32 {
        self.net().map_or(0, |n| n.peers().len() as u32)
    }

    /// The peer network, when the daemon runs one.
    pub fn net(&self) -> Option<Arc<Net>> {
        self.net.get().cloned()
    }

    /// Where a joiner can reach this daemon's pacts: the seed hints an invite carries.
    pub fn seed_hints(&self) -> Vec<String> {
        self.net().map(|n| n.hints()).unwrap_or_default()
    }

    /// Hands the daemon its peer network (once, at start).
    pub fn set_net(&self, net: Arc<Net>) {
        let _ = self.net.set(net);
    }

    /// `JoinPact`: adds the pact (an empty ledger that fills from its peers); with a token, also
    /// remembers the token's seed hints, redeems it at an indexer and waits until this daemon
    /// is a member.
    pub async fn join_pact(&self, req: v1::JoinPactRequest) -> Result<v1::JoinPactResponse> {
        if !req.confirm {
            return Err(ApiError::new(
                Code::NotConfirmed,
                "joining needs confirm: true",
            ));
        }
        let token = req.token.as_deref().map(InviteToken::decode).transpose()?;
        let key = match (&token, req.key.trim()) {
            (Some(t), "") => t.pact_id.clone(),
            (Some(t), k) if k != t.pact_id => {
                return Err(ApiError::new(
                    Code::InviteWrongPact,
                    "the invite is for another pact than key",
                ));
            }
            (_, k) => k.to_string(),
        };
        let pact_id = PactId::from_hex(&key).ok_or_else(|| {
            ApiError::bad_request("key must be a pact id: 64 lowercase hex characters")
        })?;
        for (what, v, max) in [
            ("display_name", &req.display_name, 64),
            ("pact_name", &req.pact_name, 64),
            ("pact_purpose", &req.pact_purpose, 200),
        ] {
            if v.as_ref().is_some_and(|v| v.chars().count() > max) {
                return Err(ApiError::bad_request(format!(
                    "{what} must be at most {max} characters"
                )));
            }
        }
        if let Some(a) = &req.alias {
            datadir::validate_alias(a)?;
        }
        let alias = req
            .alias
            .clone()
            .unwrap_or_else(|| format!("joined-{}", &key[..8]));
        let pact = {
            let _guard = self.registry.lock().await;
            let _changing = self.bus.changing();
            let slots = self.slots();
            match slots.iter().find(|s| s.alias() == alias) {
                Some(s) if s.pact_id() != key => {
                    return Err(ApiError::new(
                        Code::PactAliasExists,
                        format!(
                            "the alias {alias} is already bound to another pact. Pass another alias."
                        ),
                    ));
                }
                Some(Slot::Failed { error, .. }) => return Err(error.clone()),
                Some(Slot::Open(p)) => p.clone(),
                None => match slots.iter().find(|s| s.pact_id() == key) {
                    Some(Slot::Open(p)) => p.clone(),
                    Some(Slot::Failed { error, .. }) => return Err(error.clone()),
                    None => {
                        let mut config = PactConfig::new(key.clone());
                        config.pact_name = req
                            .pact_name
                            .clone()
                            .or_else(|| token.as_ref().and_then(|t| t.pact_name.clone()));
                        config.pact_purpose = req
                            .pact_purpose
                            .clone()
                            .or_else(|| token.as_ref().and_then(|t| t.pact_purpose.clone()));
                        config.display_name = req.display_name.clone().filter(|d| !d.is_empty());
                        let (dir, a) = (self.dir.clone(), alias.clone());
                        let entry = tokio::task::spawn_blocking(move || {
                            pact::join_files(&dir, &a, pact_id, &config)
                        })
                        .await
                        .map_err(|e| ApiError::internal(format!("joining panicked: {e}")))??;
                        self.add_slot(&entry)?
                    }
                },
            }
        };
        if let Some(t) = &token {
            self.redeem_joined(
                &pact,
                t,
                req.token.clone().unwrap_or_default(),
                req.timeout_ms,
            )
            .await?;
        }
        let r = pact.reader()?;
        let role = pact.role(&r)?;
        let config = pact.config();
        let p = r.pact()?;
        Ok(v1::JoinPactResponse {
            ok: true,
            alias: pact.alias(),
            pact_id: key,
            pact_name: p.as_ref().map(|p| p.name.clone()).or(config.pact_name),
            pact_purpose: p.and_then(|p| p.purpose).or(config.pact_purpose),
            role: role.map(str::to_string),
            public_key: pact.me.to_hex(),
        })
    }

    /// The joiner's half of an invite: keep the token's secret and seeds, dial the seeds, redeem
    /// the token at an indexer (unless this daemon is a member already) and wait until the
    /// entry that admits it arrives.
    async fn redeem_joined(
        &self,
        pact: &Arc<OpenPact>,
        token: &InviteToken,
        raw: String,
        timeout_ms: u32,
    ) -> Result<()> {
        let net = self.net().ok_or_else(|| {
            ApiError::new(
                Code::NoIndexerReachable,
                "This daemon runs without a peer network, so it cannot reach the pact's indexers.",
            )
        })?;
        pact.set_discovery_secret(&token.secret)?;
        pact.set_seeds(&token.seeds)?;
        // An indexer (the creator joining its own pact) or a member with a live session needs
        // no invite. A member without one may have been removed without hearing of it yet (the
        // pact's peers stopped syncing with it): it redeems.
        let role = pact.role(&pact.reader()?)?;
        if matches!(role, Some("creator" | "indexer"))
            || (role.is_some() && net.connected_pact(&pact.id))
        {
            return Ok(());
        }
        let indexers: Vec<[u8; 32]> = token
            .indexers
            .iter()
            .filter_map(|k| MemberKey::from_hex(k).map(|k| k.0))
            .collect();
        // The seed hints first (usually the inviter itself); when no indexer answers there,
        // the peers the seeds know under the pact's topic.
        let seeds = crate::discovery::resolve(&token.seeds).await;
        let next_seq = pact.next_seq()?;
        let direct = net
            .redeem_remote(
                pact.id,
                indexers.clone(),
                seeds.clone(),
                raw.clone(),
                pact.me,
                next_seq,
            )
            .await;
        let (_, indexer) = match direct {
            Err(e) if e.code == Code::NoIndexerReachable => {
                let found = match hex::decode(&token.secret) {
                    Ok(secret) => {
                        let topic = openpact_p2p::rendezvous::topic_of(&secret);
                        let mut at = seeds.clone();
                        at.extend(crate::discovery::resolve(&net.seeds()).await);
                        crate::discovery::lookup_once(&net, &at, topic).await
                    }
                    Err(_) => Vec::new(),
                };
                if found.is_empty() {
                    return Err(e);
                }
                net.redeem_remote(pact.id, indexers, found, raw, pact.me, next_seq)
                    .await?
            }
            other => other?,
        };
        // A member now: sync with the indexer that admitted it (kept across restarts), retry
        // the peers that refused this daemon before, and find the others through the seeds.
        pact.remember_peer(&indexer.to_string())?;
        net.dial(pact.id, indexer);
        net.retry_now();
        net.rediscover();
        let timeout = Duration::from_millis(match timeout_ms {
            0 => 30_000,
            t => u64::from(t),
        });
        let deadline = tokio::time::Instant::now() + timeout;
        pact.wait_member(timeout).await?;
        net.wait_connected(&pact.id, deadline).await;
        // As a new pact's creator does, say who arrived.
        if let Some(name) = pact.config().display_name {
            let body = pact::system_message(
                format!("{name} joined the pact."),
                "rename",
                serde_json::json!({"prev": null, "next": name}),
                Some(name.clone()),
            );
            pact.append_body(body).await?;
        }
        Ok(())
    }

    /// `SwitchPact`.
    pub async fn switch_pact(&self, req: &v1::SwitchPactRequest) -> Result<v1::SwitchPactResponse> {
        if req.confirm != req.alias {
            return Err(ApiError::new(
                Code::NotConfirmed,
                "confirm must equal the alias to switch to",
            ));
        }
        let _guard = self.registry.lock().await;
        let _changing = self.bus.changing();
        if !self.slots().iter().any(|s| s.alias() == req.alias) {
            let known: Vec<String> = self.slots().iter().map(Slot::alias).collect();
            return Err(ApiError::new(
                Code::UnknownPact,
                format!(
                    "no pact named {}. known: {}",
                    req.alias,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
        self.dir.update(|f| {
            f.current_alias = Some(req.alias.clone());
            Ok(())
        })?;
        if let Ok(mut c) = self.current.write() {
            *c = Some(req.alias.clone());
        }
        Ok(v1::SwitchPactResponse {
            ok: true,
            current: req.alias.clone(),
        })
    }

    /// `RenamePact`: moves the pact's directory and rewrites the registry.
    pub async fn rename_pact(&self, req: &v1::RenamePactRequest) -> Result<v1::RenamePactResponse> {
        datadir::validate_alias(&req.alias)?;
        let _guard = self.registry.lock().await;
        let _changing = self.bus.changing();
        let p = self.resolve(&req.pact)?;
        let old = p.alias();
        if self.slots().iter().any(|s| s.alias() == req.alias) {
            return Err(ApiError::new(
                Code::PactAliasExists,
                format!("a pact named {} already exists", req.alias),
            ));
        }
        let (from, to) = (self.dir.pact_dir(&old), self.dir.pact_dir(&req.alias));
        if to.exists() {
            return Err(ApiError::new(
                Code::PactAliasExists,
                format!(
                    "{} already exists. Move it away or pick another alias.",
                    to.display()
                ),
            ));
        }
        // The ledger file stays open across the move: on Unix an open file follows its inode.
        std::fs::rename(&from, &to).map_err(|e| pact::io_error(&from, &e))?;
        let updated = self.dir.update(|f| {
            for e in f.pacts.iter_mut().filter(|e| e.alias == old) {
                e.alias = req.alias.clone();
            }
            if f.current_alias.as_deref() == Some(old.as_str()) {
                f.current_alias = Some(req.alias.clone());
            }
            Ok(())
        });
        if let Err(e) = updated {
            let _ = std::fs::rename(&to, &from);
            return Err(e);
        }
        p.set_alias(&req.alias);
        if let Ok(mut c) = self.current.write()
            && c.as_deref() == Some(old.as_str())
        {
            *c = Some(req.alias.clone());
        }
        Ok(v1::RenamePactResponse {
            ok: true,
            alias: req.alias.clone(),
            pact_id: p.id.to_hex(),
        })
    }

    /// `DeletePact`: announces the leave, closes the pact, wipes its directory.
    pub async fn delete_pact(&self, req: &v1::DeletePactRequest) -> Result<v1::DeletePactResponse> {
        let _guard = self.registry.lock().await;
        let _changing = self.bus.changing();
        let slots = self.slots();
        let slot = slots
            .iter()
            .find(|s| s.alias() == req.pact)
            .or_else(|| slots.iter().find(|s| s.pact_id() == req.pact))
            .ok_or_else(|| ApiError::unknown_pact(&req.pact))?;
        let (alias, id) = (slot.alias(), slot.pact_id());
        if req.confirm != alias && req.confirm != id {
            return Err(ApiError::new(
                Code::NotConfirmed,
                "confirm must equal the pact's alias or its pact_id",
            ));
        }
        let dir = self.dir.pact_dir(&alias);
        self.delete_locked(&alias).await?;
        Ok(v1::DeletePactResponse {
            ok: true,
            alias,
            pact_id: id,
            data_dir: dir.display().to_string(),
        })
    }

    async fn delete_locked(&self, alias: &str) -> Result<()> {
        let slot = self.slots().into_iter().find(|s| s.alias() == alias);
        if let Some(Slot::Open(p)) = &slot {
            let r = p.reader()?;
            if p.role(&r)?.is_some() {
                let name = p.config().display_name.unwrap_or_else(|| p.me.handle());
                let body = pact::system_message(
                    format!("{name} has left the pact."),
                    "leave",
                    serde_json::json!({}),
                    p.config().display_name,
                );
                if let Err(e) = p.append_body(body).await {
                    tracing::warn!(alias, error = %e, "cannot append the leave message");
                }
            }
            p.shutdown();
        }
        let remaining = self.dir.update(|f| {
            f.pacts.retain(|e| e.alias != alias);
            if f.current_alias.as_deref() == Some(alias) {
                f.current_alias = f.pacts.first().map(|e| e.alias.clone());
            }
            Ok(f.current_alias.clone())
        })?;
        if let Ok(mut s) = self.slots.write() {
            s.retain(|s| s.alias() != alias);
        }
        if let Ok(mut c) = self.current.write() {
            *c = remaining;
        }
        let dir = self.dir.pact_dir(alias);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(pact::io_error(&dir, &e)),
        }
    }
}
