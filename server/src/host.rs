//! The daemon's host level: the registry of pacts it holds open, the current pact, and the
//! operations of the control plane's `Host` service.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use openpact_ledger::{Clock, Code, WriterConfig};
use openpact_proto::v1;
use tokio::sync::watch;

use crate::datadir::{self, DataDir, PactEntry};
use crate::error::{ApiError, Result};
use crate::events::EventBus;
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
            agents: 0,
        }
    }

    /// `Status`.
    pub fn status(&self) -> v1::HostStatusResponse {
        let slots = self.slots();
        v1::HostStatusResponse {
            current: self.current_alias(),
            agents: 0,
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
        let opened = OpenPact::open(
            &self.dir,
            &entry,
            self.clock.clone(),
            self.bus.clone(),
            self.writer_config.clone(),
        )?;
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
            *c = Some(alias.clone());
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
