//! The control plane over its unix socket: every method, and each wire code a caller can reach
//! by a real mistake on one daemon. The daemon runs in this process (the real `daemon::run`,
//! its real socket); the client is the tonic client the CLI uses.

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use openpact_ledger::Code;
use openpact_ledger::view::apply::skill_checksum;
use openpact_proto::v1;
use openpact_server::client::Client;
use openpact_server::daemon::{self, RunOptions};
use openpact_server::datadir::DataDir;
use openpact_server::wire_code::from_status;
use tokio_stream::StreamExt as _;

struct Harness {
    dir: tempfile::TempDir,
    c: Client,
    done: tokio::task::JoinHandle<openpact_server::Result<()>>,
}

impl Harness {
    async fn start() -> Harness {
        let dir = tempfile::Builder::new()
            .prefix("opg")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let data = DataDir::at(dir.path());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let done = tokio::spawn(daemon::run(
            data.clone(),
            RunOptions::default(),
            move || {
                let _ = tx.send(());
            },
        ));
        rx.await.expect("daemon ready");
        let c = Client::connect(data.socket_path()).await.expect("connect");
        Harness { dir, c, done }
    }

    /// A daemon with one pact, `default`.
    async fn with_pact() -> Harness {
        let mut h = Harness::start().await;
        h.c.host
            .create_pact(v1::CreatePactRequest {
                name: "default".into(),
                alias: Some("default".into()),
                confirm: true,
                ..Default::default()
            })
            .await
            .expect("create pact");
        h
    }

    async fn stop(mut self) {
        self.c
            .host
            .shutdown(v1::ShutdownRequest {})
            .await
            .expect("shutdown");
        let r = tokio::time::timeout(Duration::from_secs(10), &mut self.done)
            .await
            .expect("daemon stops within 10 s")
            .expect("join");
        r.expect("daemon ran cleanly");
    }
}

/// The wire code of a failed call.
fn code<T: std::fmt::Debug>(r: Result<tonic::Response<T>, tonic::Status>) -> Code {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(s) => from_status(&s).code,
    }
}

fn page(limit: u32, order: v1::Order, cursor: Option<String>) -> Option<v1::PageRequest> {
    Some(v1::PageRequest {
        order: order as i32,
        limit,
        cursor,
    })
}

fn knowledge(e: &v1::Entry) -> &v1::KnowledgePayload {
    match &e.payload {
        Some(v1::entry::Payload::Knowledge(k)) => k,
        other => panic!("not knowledge: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_methods_manage_the_registry_and_refuse_mistakes() {
    let mut h = Harness::start().await;
    let mode = std::fs::metadata(h.dir.path().join("openpact.sock"))
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the socket is private");
    let ping =
        h.c.host
            .ping(v1::PingRequest {})
            .await
            .expect("ping")
            .into_inner();
    assert!(ping.ok);
    assert_eq!(ping.pid, std::process::id());
    let health = h.c.host.health(v1::HealthRequest {}).await.expect("health");
    assert_eq!(health.get_ref().status, "alive");
    let ready = h.c.host.ready(v1::ReadyRequest {}).await.expect("ready");
    assert_eq!(ready.get_ref().status, "not-ready");
    assert_eq!(
        code(
            h.c.pact
                .status(v1::PactStatusRequest {
                    pact: String::new()
                })
                .await
        ),
        Code::UnknownPact,
        "no current pact yet"
    );

    let create = |name: &str, alias: Option<&str>, confirm: bool| v1::CreatePactRequest {
        name: name.into(),
        alias: alias.map(str::to_string),
        confirm,
        ..Default::default()
    };
    assert_eq!(
        code(h.c.host.create_pact(create("x", None, false)).await),
        Code::NotConfirmed
    );
    assert_eq!(
        code(h.c.host.create_pact(create("", None, true)).await),
        Code::BadRequest
    );
    assert_eq!(
        code(
            h.c.host
                .create_pact(create("x", Some("Bad Alias"), true))
                .await
        ),
        Code::BadRequest
    );
    let first =
        h.c.host
            .create_pact(create("Sales Team!", None, true))
            .await
            .expect("create")
            .into_inner();
    assert_eq!(first.alias, "sales-team", "slugged from the name");
    assert_eq!(first.role, "creator");
    assert!(first.is_current, "the first pact becomes current");
    assert_eq!(
        code(
            h.c.host
                .create_pact(create("again", Some("sales-team"), true))
                .await
        ),
        Code::PactAliasExists
    );
    let second =
        h.c.host
            .create_pact(create("Sales Team!", None, true))
            .await
            .expect("create")
            .into_inner();
    assert_eq!(second.alias, "sales-team-2", "collisions get a suffix");
    assert!(!second.is_current);

    let list =
        h.c.host
            .list_pacts(v1::ListPactsRequest {})
            .await
            .expect("list")
            .into_inner();
    assert_eq!(list.current.as_deref(), Some("sales-team"));
    let aliases: Vec<_> = list.pacts.iter().map(|p| p.alias.as_str()).collect();
    assert_eq!(aliases, ["sales-team", "sales-team-2"]);
    assert_eq!(list.pacts[0].role.as_deref(), Some("creator"));
    assert_eq!(
        h.c.host
            .ready(v1::ReadyRequest {})
            .await
            .expect("ready")
            .get_ref()
            .pact_count,
        2
    );

    let switch = |alias: &str, confirm: &str| v1::SwitchPactRequest {
        alias: alias.into(),
        confirm: confirm.into(),
    };
    assert_eq!(
        code(h.c.host.switch_pact(switch("sales-team-2", "other")).await),
        Code::NotConfirmed
    );
    assert_eq!(
        code(h.c.host.switch_pact(switch("nope", "nope")).await),
        Code::UnknownPact
    );
    h.c.host
        .switch_pact(switch("sales-team-2", "sales-team-2"))
        .await
        .expect("switch");
    let status =
        h.c.host
            .status(v1::HostStatusRequest {})
            .await
            .expect("status")
            .into_inner();
    assert_eq!(status.current.as_deref(), Some("sales-team-2"));

    let rename = |pact: &str, alias: &str| v1::RenamePactRequest {
        pact: pact.into(),
        alias: alias.into(),
    };
    assert_eq!(
        code(
            h.c.host
                .rename_pact(rename("sales-team-2", "sales-team"))
                .await
        ),
        Code::PactAliasExists
    );
    assert_eq!(
        code(h.c.host.rename_pact(rename("ghost", "g")).await),
        Code::UnknownPact
    );
    h.c.host
        .rename_pact(rename(&second.pact_id, "ops"))
        .await
        .expect("rename by pact id");
    assert!(h.dir.path().join("pacts/ops/ledger.redb").exists());
    // The renamed pact still works, and is still current.
    let s =
        h.c.pact
            .status(v1::PactStatusRequest {
                pact: String::new(),
            })
            .await
            .expect("status")
            .into_inner();
    assert_eq!(s.alias, "ops");
    h.c.pact
        .create_knowledge(v1::CreateKnowledgeRequest {
            pact: "ops".into(),
            topic: "t".into(),
            content: "still writable after the rename".into(),
            ..Default::default()
        })
        .await
        .expect("write after rename");

    let delete = |pact: &str, confirm: &str| v1::DeletePactRequest {
        pact: pact.into(),
        confirm: confirm.into(),
    };
    assert_eq!(
        code(h.c.host.delete_pact(delete("ghost", "ghost")).await),
        Code::UnknownPact
    );
    assert_eq!(
        code(h.c.host.delete_pact(delete("ops", "typo")).await),
        Code::NotConfirmed
    );
    let gone =
        h.c.host
            .delete_pact(delete("ops", &second.pact_id))
            .await
            .expect("delete")
            .into_inner();
    assert_eq!(gone.alias, "ops");
    assert!(
        !h.dir.path().join("pacts/ops").exists(),
        "the data dir is wiped"
    );
    let list =
        h.c.host
            .list_pacts(v1::ListPactsRequest {})
            .await
            .expect("list")
            .into_inner();
    assert_eq!(
        list.current.as_deref(),
        Some("sales-team"),
        "current moves on"
    );
    // Joining by key alone adds the pact, empty until its peers fill it; no role yet.
    let key = openpact_ledger::Signer::from_seed([5; 32])
        .public()
        .to_hex();
    let join = |key: String, alias: Option<&str>| v1::JoinPactRequest {
        key,
        alias: alias.map(str::to_string),
        pact_name: Some("Coven".into()),
        confirm: true,
        ..Default::default()
    };
    let joined =
        h.c.host
            .join_pact(join(key.clone(), None))
            .await
            .expect("join")
            .into_inner();
    assert_eq!(joined.alias, format!("joined-{}", &key[..8]));
    assert_eq!(joined.role, None);
    assert_eq!(joined.pact_name.as_deref(), Some("Coven"));
    let again =
        h.c.host
            .join_pact(join(key.clone(), None))
            .await
            .expect("join is idempotent")
            .into_inner();
    assert_eq!(again.alias, joined.alias);
    let other = openpact_ledger::Signer::from_seed([6; 32])
        .public()
        .to_hex();
    assert_eq!(
        code(h.c.host.join_pact(join(other, Some(&joined.alias))).await),
        Code::PactAliasExists
    );
    assert_eq!(
        code(
            h.c.host
                .join_pact(v1::JoinPactRequest {
                    key,
                    confirm: false,
                    ..Default::default()
                })
                .await
        ),
        Code::NotConfirmed
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_and_messages_page_filter_and_thread() {
    let mut h = Harness::with_pact().await;
    for i in 0..5 {
        let topic = if i == 2 { "eng" } else { "sales" };
        let e =
            h.c.pact
                .create_knowledge(v1::CreateKnowledgeRequest {
                    pact: "default".into(),
                    topic: topic.into(),
                    content: format!("c{i}"),
                    source: Some("test".into()),
                    extra_json: r#"{"confidence":0.9}"#.into(),
                })
                .await
                .expect("knowledge")
                .into_inner();
        assert!(e.id.contains('-'));
        assert_eq!(e.r#type, v1::EntryType::Knowledge as i32);
        assert_eq!(e.outcome, "applied");
    }
    // Walk newest first, two at a time.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let p =
            h.c.pact
                .list_knowledge(v1::ListKnowledgeRequest {
                    pact: "default".into(),
                    page: page(2, v1::Order::Desc, cursor.clone()),
                    topic: None,
                })
                .await
                .expect("list")
                .into_inner();
        seen.extend(p.entries.iter().map(|e| knowledge(e).content.clone()));
        if !p.has_more {
            break;
        }
        cursor = p.cursor;
    }
    assert_eq!(seen, ["c4", "c3", "c2", "c1", "c0"]);
    let asc =
        h.c.pact
            .list_knowledge(v1::ListKnowledgeRequest {
                pact: "default".into(),
                page: page(3, v1::Order::Asc, None),
                topic: Some("sales".into()),
            })
            .await
            .expect("asc")
            .into_inner();
    let contents: Vec<_> = asc
        .entries
        .iter()
        .map(|e| knowledge(e).content.as_str())
        .collect();
    assert_eq!(contents, ["c0", "c1", "c3"]);
    assert!(asc.has_more);
    assert_eq!(
        knowledge(&asc.entries[0]).extra_json,
        r#"{"confidence":0.9}"#
    );
    assert_eq!(
        code(
            h.c.pact
                .list_knowledge(v1::ListKnowledgeRequest {
                    pact: "default".into(),
                    page: page(2, v1::Order::Desc, Some("task/1/abcd-1".into())),
                    topic: None,
                })
                .await
        ),
        Code::BadCursor
    );
    assert_eq!(
        code(
            h.c.pact
                .list_knowledge(v1::ListKnowledgeRequest {
                    pact: "default".into(),
                    page: page(1001, v1::Order::Desc, None),
                    topic: None,
                })
                .await
        ),
        Code::BadRequest
    );
    let k = |topic: &str, content: String| v1::CreateKnowledgeRequest {
        pact: "default".into(),
        topic: topic.into(),
        content,
        ..Default::default()
    };
    assert_eq!(
        code(h.c.pact.create_knowledge(k("", "x".into())).await),
        Code::BadRequest
    );
    assert_eq!(
        code(
            h.c.pact
                .create_knowledge(k("big", "x".repeat(70 * 1024)))
                .await
        ),
        Code::PayloadTooLarge
    );
    assert_eq!(
        code(
            h.c.pact
                .create_knowledge(v1::CreateKnowledgeRequest {
                    pact: "nope".into(),
                    topic: "t".into(),
                    content: "x".into(),
                    ..Default::default()
                })
                .await
        ),
        Code::UnknownPact
    );

    // Messages: a thread, a recipient, filters.
    let msg = |content: &str, reply_to: Option<String>, to: Option<&str>| v1::PostMessageRequest {
        pact: "default".into(),
        content: content.into(),
        priority: Some("high".into()),
        reply_to,
        to: to.map(str::to_string),
    };
    let parent =
        h.c.pact
            .post_message(msg("heads up", None, None))
            .await
            .expect("post")
            .into_inner();
    let reply =
        h.c.pact
            .post_message(msg(
                "reply",
                Some(parent.id.clone()),
                Some("anon-cobra-3e910000"),
            ))
            .await
            .expect("reply")
            .into_inner();
    assert_eq!(reply.refs, std::slice::from_ref(&parent.id));
    let thread =
        h.c.pact
            .referenced_by(v1::ReferencedByRequest {
                pact: "default".into(),
                id: parent.id.clone(),
            })
            .await
            .expect("thread")
            .into_inner();
    assert_eq!(thread.entries.len(), 1);
    assert_eq!(thread.entries[0].id, reply.id);
    assert_eq!(
        code(h.c.pact.post_message(msg("", None, None)).await),
        Code::BadRequest
    );
    assert_eq!(
        code(
            h.c.pact
                .post_message(msg("x", Some("not-an-id".into()), None))
                .await
        ),
        Code::BadRequest
    );
    let list = |agent_id: Option<String>, to: Option<&str>| v1::ListMessagesRequest {
        pact: "default".into(),
        page: None,
        since_ms: None,
        agent_id,
        to: to.map(str::to_string),
    };
    let to =
        h.c.pact
            .list_messages(list(None, Some("anon-cobra-3e910000")))
            .await
            .expect("to");
    assert_eq!(to.get_ref().entries.len(), 1);
    let mine =
        h.c.pact
            .list_messages(list(Some(parent.agent_id.clone()), None))
            .await
            .expect("mine");
    assert_eq!(mine.get_ref().entries.len(), 2);
    let ghost =
        h.c.pact
            .list_messages(list(Some("anon-ghost-00000000".into()), None))
            .await
            .expect("ghost");
    assert!(ghost.get_ref().entries.is_empty());
    assert_eq!(
        code(
            h.c.pact
                .list_messages(list(Some("not-a-handle".into()), None))
                .await
        ),
        Code::BadRequest
    );
    let entry =
        h.c.pact
            .get_entry(v1::GetEntryRequest {
                pact: "default".into(),
                id: parent.id.clone(),
            })
            .await
            .expect("entry")
            .into_inner();
    assert_eq!(entry.hash, parent.hash);
    assert_eq!(
        code(
            h.c.pact
                .get_entry(v1::GetEntryRequest {
                    pact: "default".into(),
                    id: "zzzz-99".into(),
                })
                .await
        ),
        Code::NotFound
    );
    h.stop().await;
}

fn task_req(id: &str) -> v1::TaskActionRequest {
    v1::TaskActionRequest {
        pact: "default".into(),
        id: id.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_follow_the_state_machine_and_one_of_two_concurrent_claims_wins() {
    let mut h = Harness::with_pact().await;
    let create = |title: &str, assigned_to: Option<&str>| v1::CreateTaskRequest {
        pact: "default".into(),
        title: title.into(),
        assigned_to: assigned_to.map(str::to_string),
        ..Default::default()
    };
    let t =
        h.c.pact
            .create_task(create("Build landing page", None))
            .await
            .expect("task")
            .into_inner();
    assert_eq!(t.status, "open");
    assert_eq!(t.history.len(), 1);
    assert_eq!(
        code(h.c.pact.create_task(create("", None)).await),
        Code::BadRequest
    );
    assert_eq!(
        code(
            h.c.pact
                .create_task(create("x", Some("not-a-handle")))
                .await
        ),
        Code::BadRequest
    );
    assert_eq!(
        code(h.c.pact.claim_task(task_req("abcd-99")).await),
        Code::NotFound
    );
    assert_eq!(
        code(h.c.pact.release_task(task_req(&t.id)).await),
        Code::NotClaimed
    );
    let mut confirmed = task_req(&t.id);
    confirmed.wait = v1::Wait::Confirmed as i32;
    let claimed =
        h.c.pact
            .claim_task(confirmed)
            .await
            .expect("claim")
            .into_inner();
    assert_eq!(claimed.status, "claimed");
    let read =
        h.c.pact
            .get_task(v1::GetTaskRequest {
                pact: "default".into(),
                id: t.id.clone(),
            })
            .await
            .expect("get task")
            .into_inner();
    assert_eq!((read.status.as_str(), read.history.len()), ("claimed", 2));
    assert_eq!(
        code(
            h.c.pact
                .get_task(v1::GetTaskRequest {
                    pact: "default".into(),
                    id: "abcd-99".into(),
                })
                .await
        ),
        Code::NotFound
    );
    assert!(
        claimed.confirmed,
        "wait=confirmed answers once the anchor confirmed it"
    );
    assert_eq!(
        claimed.claimed_by.as_deref(),
        Some(t.history[0].agent_id.as_str())
    );
    assert_eq!(
        code(h.c.pact.claim_task(task_req(&t.id)).await),
        Code::TaskNotOpen
    );
    let released =
        h.c.pact
            .release_task(task_req(&t.id))
            .await
            .expect("release")
            .into_inner();
    assert_eq!(released.status, "open");
    let mut done = task_req(&t.id);
    done.result = Some("shipped".into());
    let completed =
        h.c.pact
            .complete_task(done.clone())
            .await
            .expect("complete")
            .into_inner();
    assert_eq!(
        (completed.status.as_str(), completed.result.as_deref()),
        ("complete", Some("shipped"))
    );
    assert_eq!(
        code(h.c.pact.complete_task(done).await),
        Code::TaskAlreadyComplete
    );
    let reserved =
        h.c.pact
            .create_task(create("Reserved", Some("anon-falcon-deadbeef")))
            .await
            .expect("task")
            .into_inner();
    assert_eq!(
        code(h.c.pact.claim_task(task_req(&reserved.id)).await),
        Code::NotAssignee
    );

    // Two clients race for one task: exactly one gets it.
    let race =
        h.c.pact
            .create_task(create("Race", None))
            .await
            .expect("task")
            .into_inner();
    let socket = h.dir.path().join("openpact.sock");
    let mut other = Client::connect(&socket).await.expect("second client");
    let (a, b) = tokio::join!(
        h.c.pact.claim_task(task_req(&race.id)),
        other.pact.claim_task(task_req(&race.id))
    );
    let wins = [a.is_ok(), b.is_ok()].iter().filter(|w| **w).count();
    assert_eq!(wins, 1, "exactly one claim wins: {a:?} / {b:?}");
    let loser = if a.is_ok() { b } else { a };
    let loser = code(loser);
    assert!(
        matches!(loser, Code::TaskNotOpen | Code::TaskAlreadyClaimed),
        "the loser is told someone else has it: {loser}"
    );
    let list =
        h.c.pact
            .list_tasks(v1::ListTasksRequest {
                pact: "default".into(),
                page: None,
                status: Some("claimed".into()),
            })
            .await
            .expect("list")
            .into_inner();
    assert_eq!(list.tasks.len(), 1);
    assert_eq!(list.tasks[0].id, race.id);
    assert_eq!(
        code(
            h.c.pact
                .list_tasks(v1::ListTasksRequest {
                    pact: "default".into(),
                    page: None,
                    status: Some("stuck".into()),
                })
                .await
        ),
        Code::BadRequest
    );
    let history =
        h.c.pact
            .referenced_by(v1::ReferencedByRequest {
                pact: "default".into(),
                id: t.id.clone(),
            })
            .await
            .expect("history")
            .into_inner();
    assert_eq!(history.entries.len(), 3, "claim, release, complete");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skills_publish_verify_and_install() {
    let mut h = Harness::with_pact().await;
    let content = "# Scraper\nfetch the page\n".to_string();
    let publish = |name: &str, checksum: String| v1::PublishSkillRequest {
        pact: "default".into(),
        name: name.into(),
        version: "1.0.0".into(),
        format: "openclaw".into(),
        content: content.clone(),
        checksum,
        requires_approval: Some(true),
        ..Default::default()
    };
    let skill =
        h.c.pact
            .publish_skill(publish("scraper", skill_checksum(&content)))
            .await
            .expect("publish")
            .into_inner();
    assert_eq!(
        code(
            h.c.pact
                .publish_skill(publish("../../etc/passwd", skill_checksum(&content)))
                .await
        ),
        Code::BadSkillName
    );
    assert_eq!(
        code(
            h.c.pact
                .publish_skill(publish("x", format!("sha256:{}", "a".repeat(64))))
                .await
        ),
        Code::SkillChecksumMismatch
    );
    assert_eq!(
        code(h.c.pact.publish_skill(publish("x", "md5:abc".into())).await),
        Code::BadRequest
    );
    let listed =
        h.c.pact
            .list_skills(v1::ListSkillsRequest {
                pact: "default".into(),
                page: None,
                format: Some("openclaw".into()),
            })
            .await
            .expect("skills")
            .into_inner();
    assert_eq!(listed.entries.len(), 1);
    assert_eq!(
        code(
            h.c.pact
                .list_skills(v1::ListSkillsRequest {
                    pact: "default".into(),
                    page: None,
                    format: Some("autogen".into()),
                })
                .await
        ),
        Code::BadRequest
    );
    let got =
        h.c.pact
            .get_skill_content(v1::GetSkillContentRequest {
                pact: "default".into(),
                id: skill.id.clone(),
            })
            .await
            .expect("content")
            .into_inner();
    assert_eq!(got.content, content);
    let install = |confirm: bool| v1::InstallSkillRequest {
        pact: "default".into(),
        id: skill.id.clone(),
        confirm,
    };
    assert_eq!(
        code(h.c.pact.install_skill(install(false)).await),
        Code::NotConfirmed
    );
    let installed =
        h.c.pact
            .install_skill(install(true))
            .await
            .expect("install")
            .into_inner();
    assert!(
        installed
            .path
            .ends_with("pacts/default/skills/scraper@1.0.0.md")
    );
    assert_eq!(
        std::fs::read_to_string(&installed.path).expect("file"),
        content
    );
    let mode = std::fs::metadata(&installed.path)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
    let all =
        h.c.pact
            .list_installed_skills(v1::ListInstalledSkillsRequest {
                pact: "default".into(),
            })
            .await
            .expect("installed")
            .into_inner();
    assert_eq!(all.skills.len(), 1);
    assert_eq!(all.skills[0].id, skill.id);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_walk_arrival_order_and_long_poll() {
    let mut h = Harness::with_pact().await;
    let changes = |since: Option<String>, wait_ms: u32, from_head: bool| v1::ChangesRequest {
        pact: "default".into(),
        since,
        wait_ms,
        limit: 1,
        r#type: None,
        from_head,
    };
    let head =
        h.c.pact
            .changes(changes(None, 0, true))
            .await
            .expect("head")
            .into_inner();
    assert!(head.entries.is_empty());
    assert_eq!(
        code(
            h.c.pact
                .changes(changes(Some("nope".into()), 0, false))
                .await
        ),
        Code::BadCursor
    );
    // A long poll wakes up when a write lands.
    let mut poller = Client::connect(h.dir.path().join("openpact.sock"))
        .await
        .expect("client");
    let since = head.cursor.clone().or(Some("0|".into()));
    let started = Instant::now();
    let poll = tokio::spawn(async move { poller.pact.changes(changes(since, 5000, false)).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let k =
        h.c.pact
            .create_knowledge(v1::CreateKnowledgeRequest {
                pact: "default".into(),
                topic: "t".into(),
                content: "wake up".into(),
                ..Default::default()
            })
            .await
            .expect("write")
            .into_inner();
    let got = poll.await.expect("join").expect("changes").into_inner();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "woken by the write"
    );
    assert_eq!(got.entries.len(), 1);
    assert_eq!(got.entries[0].id, k.id);
    h.c.pact
        .post_message(v1::PostMessageRequest {
            pact: "default".into(),
            content: "second".into(),
            ..Default::default()
        })
        .await
        .expect("message");
    let next =
        h.c.pact
            .changes(changes(got.cursor.clone(), 0, false))
            .await
            .expect("next")
            .into_inner();
    assert_eq!(next.entries.len(), 1);
    assert_eq!(next.entries[0].r#type, v1::EntryType::Message as i32);
    let empty_wait = Instant::now();
    let none =
        h.c.pact
            .changes(changes(next.cursor.clone(), 300, false))
            .await
            .expect("none")
            .into_inner();
    assert!(none.entries.is_empty());
    assert!(empty_wait.elapsed() >= Duration::from_millis(250));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_info_me_and_invites() {
    let mut h = Harness::with_pact().await;
    let p = "default".to_string();
    assert_eq!(
        code(
            h.c.pact
                .add_member(v1::AddMemberRequest {
                    pact: p.clone(),
                    key: "short".into(),
                    indexer: false,
                })
                .await
        ),
        Code::BadRequest
    );
    let key = openpact_ledger::Signer::from_seed([7; 32])
        .public()
        .to_hex();
    let added =
        h.c.pact
            .add_member(v1::AddMemberRequest {
                pact: p.clone(),
                key: key.clone(),
                indexer: false,
            })
            .await
            .expect("add")
            .into_inner();
    assert_eq!(added.key, key);
    let agents =
        h.c.pact
            .list_agents(v1::ListAgentsRequest {
                pact: p.clone(),
                online: None,
            })
            .await
            .expect("agents")
            .into_inner()
            .agents;
    assert_eq!(agents.len(), 2);
    assert!(agents[0].is_self && agents[0].role == "creator");
    assert_eq!(agents[1].remote_key, key);
    let offline =
        h.c.pact
            .list_agents(v1::ListAgentsRequest {
                pact: p.clone(),
                online: Some(false),
            })
            .await
            .expect("agents")
            .into_inner()
            .agents;
    assert_eq!(offline.len(), 1, "self is online; the new member is not");
    h.c.pact
        .remove_member(v1::RemoveMemberRequest {
            pact: p.clone(),
            key: key.clone(),
        })
        .await
        .expect("remove");
    let me =
        h.c.pact
            .status(v1::PactStatusRequest { pact: p.clone() })
            .await
            .expect("status");
    let me = me.into_inner();
    assert_eq!(
        code(
            h.c.pact
                .remove_member(v1::RemoveMemberRequest {
                    pact: p.clone(),
                    key: me.public_key.clone(),
                })
                .await
        ),
        Code::LastIndexer
    );
    // `POST /admin/remove`: confirmed, by the creator.
    let other = openpact_ledger::Signer::from_seed([8; 32])
        .public()
        .to_hex();
    h.c.pact
        .add_member(v1::AddMemberRequest {
            pact: p.clone(),
            key: other.clone(),
            indexer: false,
        })
        .await
        .expect("add");
    let admin_remove = |confirm: bool| v1::PromoteMemberRequest {
        pact: "default".into(),
        key: other.clone(),
        confirm,
    };
    assert_eq!(
        code(h.c.pact.admin_remove(admin_remove(false)).await),
        Code::NotConfirmed
    );
    let removed =
        h.c.pact
            .admin_remove(admin_remove(true))
            .await
            .expect("admin remove")
            .into_inner();
    assert_eq!(removed.key, other);
    let promote = |confirm: bool| v1::PromoteMemberRequest {
        pact: "default".into(),
        key: openpact_ledger::Signer::from_seed([6; 32])
            .public()
            .to_hex(),
        confirm,
    };
    assert_eq!(
        code(h.c.pact.promote_member(promote(false)).await),
        Code::NotConfirmed
    );
    assert_eq!(
        code(h.c.pact.promote_member(promote(true)).await),
        Code::NotSupportedYet
    );

    let info =
        h.c.pact
            .set_info(v1::SetInfoRequest {
                pact: p.clone(),
                name: Some(v1::OptionalString {
                    value: Some("Renamed".into()),
                }),
                purpose: None,
                claim_ttl_ms: Some(60_000),
            })
            .await
            .expect("info")
            .into_inner();
    assert_eq!(info.pact_name.as_deref(), Some("Renamed"));
    assert_eq!(info.claim_ttl_ms, 60_000);
    let set_me =
        h.c.pact
            .set_me(v1::SetMeRequest {
                pact: p.clone(),
                display_name: Some("Ada".into()),
            })
            .await
            .expect("me")
            .into_inner();
    assert_eq!(set_me.display_name.as_deref(), Some("Ada"));
    let msgs =
        h.c.pact
            .list_messages(v1::ListMessagesRequest {
                pact: p.clone(),
                ..Default::default()
            })
            .await
            .expect("messages")
            .into_inner();
    let kinds: Vec<_> = msgs
        .entries
        .iter()
        .filter_map(|e| match &e.payload {
            Some(v1::entry::Payload::Message(m)) => m.kind.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["rename", "pact-update"], "newest first");

    // Invites: mint, list, redeem once, revoke.
    let mint = |confirm: bool, ttl_ms: u64| v1::MintInviteRequest {
        pact: "default".into(),
        ttl_ms,
        confirm,
    };
    assert_eq!(
        code(h.c.pact.mint_invite(mint(false, 0)).await),
        Code::NotConfirmed
    );
    assert_eq!(
        code(h.c.pact.mint_invite(mint(true, 5)).await),
        Code::BadRequest
    );
    let inv =
        h.c.pact
            .mint_invite(mint(true, 60_000))
            .await
            .expect("mint")
            .into_inner();
    assert_eq!(inv.nonce.len(), 48);
    assert!(inv.share_url.contains("invite="));
    let listed =
        h.c.pact
            .list_invites(v1::ListInvitesRequest { pact: p.clone() })
            .await
            .expect("invites")
            .into_inner()
            .invites;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].nonce, inv.nonce,
        "the minting daemon sees the nonce"
    );
    assert!(!listed[0].dead);
    let joiner = openpact_ledger::Signer::from_seed([9; 32])
        .public()
        .to_hex();
    let redeem = |token: &str| v1::RedeemInviteRequest {
        pact: "default".into(),
        token: token.into(),
        writer_key: joiner.clone(),
        confirm: true,
        writer_next_seq: 0,
    };
    assert_eq!(
        code(h.c.pact.redeem_invite(redeem("thisisnotatoken")).await),
        Code::InviteBadShape
    );
    h.c.pact
        .redeem_invite(redeem(&inv.token))
        .await
        .expect("redeem");
    assert_eq!(
        code(h.c.pact.redeem_invite(redeem(&inv.token)).await),
        Code::InviteSpent
    );
    let inv2 =
        h.c.pact
            .mint_invite(mint(true, 0))
            .await
            .expect("mint")
            .into_inner();
    let revoke = |nonce: &str, confirm: &str| v1::RevokeInviteRequest {
        pact: "default".into(),
        nonce: nonce.into(),
        confirm: confirm.into(),
    };
    assert_eq!(
        code(
            h.c.pact
                .revoke_invite(revoke(&inv2.nonce, &"0".repeat(48)))
                .await
        ),
        Code::NotConfirmed
    );
    assert_eq!(
        code(
            h.c.pact
                .revoke_invite(revoke(&"f".repeat(48), &"f".repeat(48)))
                .await
        ),
        Code::UnknownInvite
    );
    h.c.pact
        .revoke_invite(revoke(&inv2.nonce, &inv2.nonce))
        .await
        .expect("revoke");
    assert_eq!(
        code(h.c.pact.redeem_invite(redeem(&inv2.token)).await),
        Code::InviteRevoked
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_writes_and_resume() {
    let mut h = Harness::with_pact().await;
    let mut stream =
        h.c.events
            .subscribe(v1::SubscribeRequest {
                pacts: vec!["default".into()],
                kinds: vec![
                    v1::EventKind::EntryApplied as i32,
                    v1::EventKind::EntryConfirmed as i32,
                ],
                ..Default::default()
            })
            .await
            .expect("subscribe")
            .into_inner();
    let k =
        h.c.pact
            .create_knowledge(v1::CreateKnowledgeRequest {
                pact: "default".into(),
                topic: "sse".into(),
                content: "hello events".into(),
                ..Default::default()
            })
            .await
            .expect("write")
            .into_inner();
    let (mut applied, mut confirmed) = (None, false);
    let deadline = Instant::now() + Duration::from_secs(5);
    while applied.is_none() || !confirmed {
        let ev = tokio::time::timeout_at(deadline.into(), stream.next())
            .await
            .expect("events within 5 s")
            .expect("stream open")
            .expect("event");
        match ev.detail {
            Some(v1::event::Detail::Applied(a)) if a.id == k.id => {
                let entry = a.entry.expect("app entries carry the entry");
                assert_eq!(knowledge(&entry).content, "hello events");
                applied = Some(ev.id.clone());
            }
            Some(v1::event::Detail::Confirmed(c)) if c.id == k.id => confirmed = true,
            _ => {}
        }
    }
    // Resuming after the applied event replays what followed it (at least the confirmation).
    let mut resumed =
        h.c.events
            .subscribe(v1::SubscribeRequest {
                pacts: vec!["default".into()],
                last_event_id: applied.clone(),
                ..Default::default()
            })
            .await
            .expect("resume")
            .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(5), resumed.next())
        .await
        .expect("replay")
        .expect("open")
        .expect("event");
    assert_ne!(Some(first.id.clone()), applied);
    assert_ne!(first.kind, v1::EventKind::Reset as i32);
    let mut reset =
        h.c.events
            .subscribe(v1::SubscribeRequest {
                last_event_id: Some("00000000-1".into()),
                ..Default::default()
            })
            .await
            .expect("reset")
            .into_inner();
    let ev = reset.next().await.expect("open").expect("event");
    assert_eq!(
        ev.kind,
        v1::EventKind::Reset as i32,
        "an unknown resume point resets"
    );
    // Replay by arrival: every entry after arrival 0.
    let mut by_arrival =
        h.c.events
            .subscribe(v1::SubscribeRequest {
                pacts: vec!["default".into()],
                kinds: vec![v1::EventKind::EntryApplied as i32],
                after_arrival: Some(0),
                ..Default::default()
            })
            .await
            .expect("by arrival")
            .into_inner();
    let ev = by_arrival.next().await.expect("open").expect("event");
    match ev.detail {
        Some(v1::event::Detail::Applied(a)) => assert_eq!(a.id, k.id),
        other => panic!("expected the entry: {other:?}"),
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_the_services() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let h = Harness::start().await;
    let socket = h.dir.path().join("openpact.sock");
    let channel = tonic::transport::Endpoint::try_from("http://localhost")
        .expect("endpoint")
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let socket = socket.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(socket).await?,
                ))
            }
        }))
        .await
        .expect("channel");
    let mut client = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut resp = client
        .server_reflection_info(tokio_stream::once(req))
        .await
        .expect("reflection")
        .into_inner();
    let msg = resp.next().await.expect("answer").expect("ok");
    let Some(MessageResponse::ListServicesResponse(list)) = msg.message_response else {
        panic!("expected a service list");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    for want in ["openpact.v1.Host", "openpact.v1.Pact", "openpact.v1.Events"] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    h.stop().await;
}
