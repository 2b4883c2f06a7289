//! The control plane over the daemon's unix socket, as a [`crate::state::Plane`]: every call is
//! forwarded to the daemon's tonic services. `openpact gateway --socket PATH --port P` serves the
//! same router as the daemon does, from its own process, with this plane.

use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use openpact_proto::v1;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

/// Largest control-plane answer the gateway takes (a page of large entries).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Clients of the daemon's three services over one connection.
#[derive(Clone, Debug)]
pub struct Remote {
    host: v1::host_client::HostClient<Channel>,
    pact: v1::pact_client::PactClient<Channel>,
    events: v1::events_client::EventsClient<Channel>,
}

/// Why the gateway cannot reach the daemon.
#[derive(Debug, thiserror::Error)]
#[error("OpenPact daemon is not running (nothing answers on {}). Start it with `openpact start`.", socket.display())]
pub struct NotRunning {
    /// The socket that did not answer.
    pub socket: PathBuf,
}

impl Remote {
    /// Connects to the daemon listening on `socket`. The connection is re-established on demand
    /// if the daemon restarts.
    pub async fn connect(socket: impl AsRef<Path>) -> Result<Remote, NotRunning> {
        let channel = dial(socket.as_ref()).await?;
        Ok(Remote {
            host: v1::host_client::HostClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
            pact: v1::pact_client::PactClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
            events: v1::events_client::EventsClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
        })
    }
}

/// A tonic channel to the daemon's unix socket (the CLI's client uses it too).
pub async fn dial(socket: &Path) -> Result<Channel, NotRunning> {
    let not_running = || NotRunning {
        socket: socket.to_path_buf(),
    };
    let path = socket.to_path_buf();
    // The URI is never dialled: the connector opens the socket. `localhost` is the authority
    // h2 needs.
    Endpoint::try_from("http://localhost")
        .map_err(|_| not_running())?
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
        .map_err(|_| not_running())
}

/// Implements a service trait by forwarding each method to the client in `self.$client`.
macro_rules! forward {
    ($service:path, $client:ident, $( $method:ident($req:ident) -> $resp:ident ),* $(,)?) => {
        #[tonic::async_trait]
        impl $service for Remote {
            $(
                async fn $method(
                    &self,
                    r: Request<v1::$req>,
                ) -> Result<Response<v1::$resp>, Status> {
                    self.$client.clone().$method(r.into_inner()).await
                }
            )*
        }
    };
}

forward! {
    v1::host_server::Host, host,
        ping(PingRequest) -> PingResponse,
        health(HealthRequest) -> HealthResponse,
        ready(ReadyRequest) -> ReadyResponse,
        status(HostStatusRequest) -> HostStatusResponse,
        list_pacts(ListPactsRequest) -> ListPactsResponse,
        create_pact(CreatePactRequest) -> CreatePactResponse,
        switch_pact(SwitchPactRequest) -> SwitchPactResponse,
        rename_pact(RenamePactRequest) -> RenamePactResponse,
        delete_pact(DeletePactRequest) -> DeletePactResponse,
        join_pact(JoinPactRequest) -> JoinPactResponse,
        shutdown(ShutdownRequest) -> ShutdownResponse,
}

forward! {
    v1::pact_server::Pact, pact,
        status(PactStatusRequest) -> PactStatus,
        list_agents(ListAgentsRequest) -> ListAgentsResponse,
        create_knowledge(CreateKnowledgeRequest) -> Entry,
        list_knowledge(ListKnowledgeRequest) -> EntryPage,
        post_message(PostMessageRequest) -> Entry,
        list_messages(ListMessagesRequest) -> EntryPage,
        create_task(CreateTaskRequest) -> TaskState,
        list_tasks(ListTasksRequest) -> TaskPage,
        get_task(GetTaskRequest) -> TaskState,
        claim_task(TaskActionRequest) -> TaskState,
        complete_task(TaskActionRequest) -> TaskState,
        release_task(TaskActionRequest) -> TaskState,
        publish_skill(PublishSkillRequest) -> Entry,
        list_skills(ListSkillsRequest) -> EntryPage,
        get_skill_content(GetSkillContentRequest) -> SkillContent,
        install_skill(InstallSkillRequest) -> InstalledSkill,
        list_installed_skills(ListInstalledSkillsRequest) -> ListInstalledSkillsResponse,
        get_entry(GetEntryRequest) -> Entry,
        referenced_by(ReferencedByRequest) -> ReferencedByResponse,
        changes(ChangesRequest) -> ChangesResponse,
        add_member(AddMemberRequest) -> MemberResponse,
        remove_member(RemoveMemberRequest) -> MemberResponse,
        promote_member(PromoteMemberRequest) -> MemberResponse,
        admin_remove(PromoteMemberRequest) -> MemberResponse,
        set_info(SetInfoRequest) -> SetInfoResponse,
        set_me(SetMeRequest) -> SetMeResponse,
        mint_invite(MintInviteRequest) -> MintInviteResponse,
        list_invites(ListInvitesRequest) -> ListInvitesResponse,
        revoke_invite(RevokeInviteRequest) -> RevokeInviteResponse,
        redeem_invite(RedeemInviteRequest) -> RedeemInviteResponse,
}

/// Over the socket the generation is unknown, so nothing is cached.
impl crate::state::Plane for Remote {}

#[tonic::async_trait]
impl v1::events_server::Events for Remote {
    type SubscribeStream = tonic::Streaming<v1::Event>;

    async fn subscribe(
        &self,
        r: Request<v1::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        self.events.clone().subscribe(r.into_inner()).await
    }
}

/// `Remote` serves the gateway's router like the daemon's own plane does.
const _: fn() = || {
    fn is_plane<T: crate::state::Plane>() {}
    is_plane::<Remote>();
};
