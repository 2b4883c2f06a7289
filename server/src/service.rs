//! The control plane's tonic services over the daemon: thin translations, no logic of their own.

use std::pin::Pin;
use std::sync::Arc;

use openpact_proto::v1;
use openpact_proto::v1::events_server::Events;
use openpact_proto::v1::host_server::Host;
use openpact_proto::v1::pact_server::Pact;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::error::{ApiError, Result};
use crate::events::Resume;
use crate::host::Daemon;
use crate::pact::tasks::TaskAction;

/// The control plane: every service over one daemon.
#[derive(Clone)]
pub struct ControlPlane {
    daemon: Arc<Daemon>,
}

/// In process, the gateway reads the daemon's generation to cache answers (spec'd in
/// [`crate::events::EventBus::generation`]).
impl openpact_gateway::state::Plane for ControlPlane {
    fn generation(&self) -> Option<u64> {
        Some(self.daemon.bus.generation())
    }
}

impl ControlPlane {
    /// The control plane of `daemon`.
    pub fn new(daemon: Arc<Daemon>) -> Self {
        ControlPlane { daemon }
    }

    /// The daemon behind it.
    pub fn daemon(&self) -> &Arc<Daemon> {
        &self.daemon
    }
}

type Answer<T> = std::result::Result<Response<T>, Status>;

fn answer<T>(r: Result<T>) -> Answer<T> {
    match r {
        Ok(v) => Ok(Response::new(v)),
        Err(e) => {
            if e.code == openpact_ledger::Code::Internal {
                tracing::error!(error = %e.message, "internal error");
            }
            Err(e.into())
        }
    }
}

#[tonic::async_trait]
impl Host for ControlPlane {
    async fn ping(&self, _: Request<v1::PingRequest>) -> Answer<v1::PingResponse> {
        Ok(Response::new(self.daemon.ping()))
    }

    async fn health(&self, _: Request<v1::HealthRequest>) -> Answer<v1::HealthResponse> {
        Ok(Response::new(v1::HealthResponse {
            ok: true,
            status: "alive".to_string(),
        }))
    }

    async fn ready(&self, _: Request<v1::ReadyRequest>) -> Answer<v1::ReadyResponse> {
        Ok(Response::new(self.daemon.ready()))
    }

    async fn status(&self, _: Request<v1::HostStatusRequest>) -> Answer<v1::HostStatusResponse> {
        Ok(Response::new(self.daemon.status()))
    }

    async fn list_pacts(&self, _: Request<v1::ListPactsRequest>) -> Answer<v1::ListPactsResponse> {
        Ok(Response::new(self.daemon.list_pacts()))
    }

    async fn create_pact(
        &self,
        r: Request<v1::CreatePactRequest>,
    ) -> Answer<v1::CreatePactResponse> {
        answer(self.daemon.create_pact(r.into_inner()).await)
    }

    async fn switch_pact(
        &self,
        r: Request<v1::SwitchPactRequest>,
    ) -> Answer<v1::SwitchPactResponse> {
        answer(self.daemon.switch_pact(r.get_ref()).await)
    }

    async fn rename_pact(
        &self,
        r: Request<v1::RenamePactRequest>,
    ) -> Answer<v1::RenamePactResponse> {
        answer(self.daemon.rename_pact(r.get_ref()).await)
    }

    async fn delete_pact(
        &self,
        r: Request<v1::DeletePactRequest>,
    ) -> Answer<v1::DeletePactResponse> {
        answer(self.daemon.delete_pact(r.get_ref()).await)
    }

    async fn join_pact(&self, r: Request<v1::JoinPactRequest>) -> Answer<v1::JoinPactResponse> {
        answer(self.daemon.join_pact(r.into_inner()).await)
    }

    async fn shutdown(&self, _: Request<v1::ShutdownRequest>) -> Answer<v1::ShutdownResponse> {
        self.daemon.request_stop();
        Ok(Response::new(v1::ShutdownResponse { ok: true }))
    }
}

#[tonic::async_trait]
impl Pact for ControlPlane {
    async fn status(&self, r: Request<v1::PactStatusRequest>) -> Answer<v1::PactStatus> {
        let d = &self.daemon;
        answer((|| {
            let p = d.resolve(&r.get_ref().pact)?;
            let current = d.status().current.as_deref() == Some(p.alias().as_str());
            let mut s = p.status(current)?;
            if let Some(net) = d.net() {
                s.peers = net.sessions_of(&p.id);
                [
                    s.sync_pulled_total,
                    s.sync_served_total,
                    s.sync_bytes_in_total,
                    s.sync_bytes_out_total,
                ] = net.totals(&p.id);
            }
            Ok(s)
        })())
    }

    async fn list_agents(
        &self,
        r: Request<v1::ListAgentsRequest>,
    ) -> Answer<v1::ListAgentsResponse> {
        let req = r.get_ref();
        answer(
            self.daemon
                .resolve(&req.pact)
                .and_then(|p| p.agents(req.online))
                .map(|agents| v1::ListAgentsResponse { agents }),
        )
    }

    async fn create_knowledge(&self, r: Request<v1::CreateKnowledgeRequest>) -> Answer<v1::Entry> {
        let req = r.into_inner();
        answer(async { self.daemon.resolve(&req.pact)?.create_knowledge(req).await }.await)
    }

    async fn list_knowledge(&self, r: Request<v1::ListKnowledgeRequest>) -> Answer<v1::EntryPage> {
        let req = r.get_ref();
        answer(
            self.daemon
                .resolve(&req.pact)
                .and_then(|p| p.list_knowledge(req)),
        )
    }

    async fn post_message(&self, r: Request<v1::PostMessageRequest>) -> Answer<v1::Entry> {
        let req = r.into_inner();
        answer(async { self.daemon.resolve(&req.pact)?.post_message(req).await }.await)
    }

    async fn list_messages(&self, r: Request<v1::ListMessagesRequest>) -> Answer<v1::EntryPage> {
        let req = r.get_ref();
        answer(
            self.daemon
                .resolve(&req.pact)
                .and_then(|p| p.list_messages(req)),
        )
    }

    async fn create_task(&self, r: Request<v1::CreateTaskRequest>) -> Answer<v1::TaskState> {
        let req = r.into_inner();
        answer(async { self.daemon.resolve(&req.pact)?.create_task(req).await }.await)
    }

    async fn list_tasks(&self, r: Request<v1::ListTasksRequest>) -> Answer<v1::TaskPage> {
        let req = r.get_ref();
        answer(
            self.daemon
                .resolve(&req.pact)
                .and_then(|p| p.list_tasks(req)),
        )
    }

    async fn get_task(&self, r: Request<v1::GetTaskRequest>) -> Answer<v1::TaskState> {
        let req = r.get_ref();
        answer(
            self.daemon
                .resolve(&req.pact)
                .and_then(|p| p.get_task(&req.id)),
        )
    }

    async fn claim_task(&self, r: Request<v1::TaskActionRequest>) -> Answer<v1::TaskState> {
        self.task_action(TaskAction::Claim, r.into_inner()).await
    }

    async fn complete_task(&self, r: Request<v1::TaskActionRequest>) -> Answer<v1::TaskState> {
        self.task_action(TaskAction::Complete, r.into_inner()).await
    }

    async fn release_task(&self, r: Request<v1::TaskActionRequest>) -> Answer<v1::TaskState> {
        self.task_action(TaskAction::Release, r.into_inner()).await
    }

    async fn publish_skill(&self, r: Request<v1::PublishSkillRequest>) -> Answer<v1::Entry> {
        let req = r.into_inner();
        answer(async { self.daemon.resolve(&req.pact)?.publish_skill(req).await }.await)
    }

    async fn list_skills(&self, r: Request<v1::ListSkillsRequest>) -> Answer<v1::EntryPage> {
        let req = r.get_ref();
        answer(
            self.daemon
                .resolve(&req.pact)
                .and_then(|p| p.list_skills(req)),
        )
    }

    async fn get_skill_content(
        &self,
        r: Request<v1::GetSkillContentRequest>,
    ) -> Answer<v1::SkillContent> {
        let req = r.get_ref();
        answer(
            self.daemon
                .resolve(&req.pact)
                .and_then(|p| p.skill_content(&req.id)),
        )
    }

    async fn install_skill(
        &self,
        r: Request<v1::InstallSkillRequest>,
    ) -> Answer<v1::InstalledSkill> {
        let req = r.get_ref();
        if !req.confirm {
            return answer(Err(ApiError::new(
                openpact_ledger::Code::NotConfirmed,
                "installing a skill needs confirm: true",
            )));
        }
        answer(
            self.daemon
                .resolve(&req.pact)
                .and_then(|p| p.install_skill(req)),
        )
    }

    async fn list_installed_skills(
        &self,
        r: Request<v1::ListInstalledSkillsRequest>,
    ) -> Answer<v1::ListInstalledSkillsResponse> {
        let req = r.get_ref();
        answer(
            self.daemon
                .resolve(&req.pact)
                .and_then(|p| p.installed_skills())
                .map(|skills| v1::ListInstalledSkillsResponse { skills }),
        )
    }

    async fn get_entry(&self, r: Request<v1::GetEntryRequest>) -> Answer<v1::Entry> {
        let req = r.get_ref();
        answer(
            self.daemon
                .resolve(&req.pact)
                .and_then(|p| p.get_entry(&req.id)),
        )
    }

    async fn referenced_by(
        &self,
        r: Request<v1::ReferencedByRequest>,
    ) -> Answer<v1::ReferencedByResponse> {
        let req = r.get_ref();
        answer(
            self.daemon
                .resolve(&req.pact)
                .and_then(|p| p.referenced_by(&req.id))
                .map(|entries| v1::ReferencedByResponse { entries }),
        )
    }

    async fn changes(&self, r: Request<v1::ChangesRequest>) -> Answer<v1::ChangesResponse> {
        let req = r.into_inner();
        answer(async { self.daemon.resolve(&req.pact)?.changes(&req).await }.await)
    }

    async fn add_member(&self, r: Request<v1::AddMemberRequest>) -> Answer<v1::MemberResponse> {
        let req = r.into_inner();
        answer(async { self.daemon.resolve(&req.pact)?.add_member(&req).await }.await)
    }

    async fn remove_member(
        &self,
        r: Request<v1::RemoveMemberRequest>,
    ) -> Answer<v1::MemberResponse> {
        let req = r.into_inner();
        // The key is checked before the pact is looked up (spec/rest-api.md, section 11).
        if let Err(e) = crate::pact::admin::member_key(&req.key) {
            return answer(Err(e));
        }
        answer(
            async {
                self.daemon
                    .resolve(&req.pact)?
                    .remove_member(&req.key)
                    .await
            }
            .await,
        )
    }

    async fn promote_member(
        &self,
        r: Request<v1::PromoteMemberRequest>,
    ) -> Answer<v1::MemberResponse> {
        let req = r.into_inner();
        answer(self.daemon.resolve(&req.pact).and_then(|p| p.promote(&req)))
    }

    async fn admin_remove(
        &self,
        r: Request<v1::PromoteMemberRequest>,
    ) -> Answer<v1::MemberResponse> {
        let req = r.into_inner();
        answer(async { self.daemon.resolve(&req.pact)?.admin_remove(&req).await }.await)
    }

    async fn set_info(&self, r: Request<v1::SetInfoRequest>) -> Answer<v1::SetInfoResponse> {
        let req = r.into_inner();
        answer(async { self.daemon.resolve(&req.pact)?.set_info(&req).await }.await)
    }

    async fn set_me(&self, r: Request<v1::SetMeRequest>) -> Answer<v1::SetMeResponse> {
        let req = r.into_inner();
        answer(async { self.daemon.resolve(&req.pact)?.set_me(&req).await }.await)
    }

    async fn mint_invite(
        &self,
        r: Request<v1::MintInviteRequest>,
    ) -> Answer<v1::MintInviteResponse> {
        let req = r.into_inner();
        answer(
            async {
                let seeds = self.daemon.seed_hints();
                self.daemon
                    .resolve(&req.pact)?
                    .mint_invite(&req, seeds)
                    .await
            }
            .await,
        )
    }

    async fn list_invites(
        &self,
        r: Request<v1::ListInvitesRequest>,
    ) -> Answer<v1::ListInvitesResponse> {
        let req = r.get_ref();
        answer(
            self.daemon
                .resolve(&req.pact)
                .and_then(|p| p.list_invites())
                .map(|invites| v1::ListInvitesResponse { invites }),
        )
    }

    async fn revoke_invite(
        &self,
        r: Request<v1::RevokeInviteRequest>,
    ) -> Answer<v1::RevokeInviteResponse> {
        let req = r.into_inner();
        answer(async { self.daemon.resolve(&req.pact)?.revoke_invite(&req).await }.await)
    }

    async fn redeem_invite(
        &self,
        r: Request<v1::RedeemInviteRequest>,
    ) -> Answer<v1::RedeemInviteResponse> {
        let req = r.into_inner();
        answer(
            async {
                let net = self.daemon.net();
                self.daemon
                    .resolve(&req.pact)?
                    .redeem_invite(&req, net.as_ref())
                    .await
            }
            .await,
        )
    }
}

impl ControlPlane {
    async fn task_action(
        &self,
        action: TaskAction,
        req: v1::TaskActionRequest,
    ) -> Answer<v1::TaskState> {
        answer(
            async {
                self.daemon
                    .resolve(&req.pact)?
                    .task_action(action, req)
                    .await
            }
            .await,
        )
    }
}

/// The stream type of `Subscribe`.
pub type EventStream = Pin<Box<dyn Stream<Item = std::result::Result<v1::Event, Status>> + Send>>;

/// Events a subscriber's outgoing queue holds before it counts as too slow.
const SUBSCRIBER_QUEUE: usize = 4096;

fn reset_event() -> v1::Event {
    v1::Event {
        kind: v1::EventKind::Reset as i32,
        ..Default::default()
    }
}

#[tonic::async_trait]
impl Events for ControlPlane {
    type SubscribeStream = EventStream;

    async fn subscribe(&self, r: Request<v1::SubscribeRequest>) -> Answer<Self::SubscribeStream> {
        let req = r.into_inner();
        let mut pacts = Vec::new();
        for p in &req.pacts {
            match self.daemon.resolve(p) {
                Ok(p) => pacts.push(p),
                Err(e) => return answer(Err(e)),
            }
        }
        let ids: Vec<String> = pacts.iter().map(|p| p.id.to_hex()).collect();
        let kinds: Vec<i32> = req.kinds.clone();
        let keep = move |e: &v1::Event| {
            (ids.is_empty() || e.pact_id.is_empty() || ids.contains(&e.pact_id))
                && (kinds.is_empty()
                    || kinds.contains(&e.kind)
                    || e.kind == v1::EventKind::Reset as i32)
        };
        let (mut replay, mut live) = match &req.last_event_id {
            Some(id) => match self.daemon.bus.resume(id) {
                (Resume::Replay(events), rx) => (
                    events.into_iter().map(|e| (*e).clone()).collect::<Vec<_>>(),
                    rx,
                ),
                (Resume::Reset, rx) => (vec![reset_event()], rx),
            },
            None => (Vec::new(), self.daemon.bus.subscribe()),
        };
        if let Some(after) = req.after_arrival {
            let [pact] = pacts.as_slice() else {
                return answer(Err(ApiError::bad_request(
                    "after_arrival needs exactly one pact in pacts",
                )));
            };
            // Entries that arrived after `after` up to now, then live events (which may repeat
            // an entry applied in between; clients key by id).
            let mut cursor = Some(format!("{after}|"));
            loop {
                let page = pact
                    .changes(&v1::ChangesRequest {
                        pact: String::new(),
                        since: cursor.clone(),
                        wait_ms: 0,
                        limit: 1000,
                        r#type: None,
                        from_head: false,
                    })
                    .await;
                let page = match page {
                    Ok(p) => p,
                    Err(e) => return answer(Err(e)),
                };
                for e in &page.entries {
                    replay.push(v1::Event {
                        id: String::new(),
                        kind: v1::EventKind::EntryApplied as i32,
                        pact_id: pact.id.to_hex(),
                        alias: pact.alias(),
                        detail: Some(v1::event::Detail::Applied(v1::EntryApplied {
                            kind: "entry".to_string(),
                            hash: e.hash.clone(),
                            id: e.id.clone(),
                            position: e.position,
                            outcome: e.outcome.clone(),
                            arrival: e.arrival,
                            entry: Some(e.clone()),
                        })),
                    });
                }
                if !page.has_more || page.cursor == cursor {
                    break;
                }
                cursor = page.cursor;
            }
        }
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        let stopping = self.daemon.stopping();
        tokio::spawn(async move {
            let stop = stopped(stopping);
            tokio::pin!(stop);
            for e in replay.into_iter().filter(|e| keep(e)) {
                if tx.send(Ok(e)).await.is_err() {
                    return;
                }
            }
            loop {
                tokio::select! {
                    _ = &mut stop => return,
                    _ = tx.closed() => return,
                    next = live.recv() => match next {
                        Ok(e) => {
                            if !keep(&e) {
                                continue;
                            }
                            if tx.try_send(Ok((*e).clone())).is_err() {
                                // Too slow (or gone): tell it to resync, then end the stream.
                                let _ = tx.send(Ok(reset_event())).await;
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            let _ = tx.send(Ok(reset_event())).await;
                            return;
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Resolves once the daemon is stopping.
pub(crate) async fn stopped(mut rx: tokio::sync::watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}
