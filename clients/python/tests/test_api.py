"""The package's shape: the two clients agree, every generated type is reachable, typing ships."""

from __future__ import annotations

import asyncio
import inspect
import threading
from importlib import resources
from pathlib import Path

import grpc
from conftest import Daemon

import openpact
from openpact import pb
from openpact._proto.openpact.v1 import common_pb2, events_pb2, host_pb2, pact_pb2


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(cls).items()
        if callable(member) and not name.startswith("_")
    }


def test_sync_and_async_clients_have_the_same_methods_and_parameters() -> None:
    sync = public_methods(openpact.Client)
    aio = public_methods(openpact.AsyncClient)
    assert sorted(sync) == sorted(aio)
    for name, sig in sync.items():
        assert list(sig.parameters.values()) == list(aio[name].parameters.values()), name
    assert inspect.signature(openpact.Client.__init__) == inspect.signature(
        openpact.AsyncClient.__init__
    )
    for name in aio:
        fn = getattr(openpact.AsyncClient, name)
        if name.startswith("iter_"):
            assert inspect.isasyncgenfunction(fn) or not inspect.iscoroutinefunction(fn), name
        elif name != "subscribe":
            assert inspect.iscoroutinefunction(fn), name


def test_every_rpc_of_every_service_is_wrapped_or_documented_as_raw() -> None:
    wrapped = {
        "Host": {"Ping", "Health", "Ready", "Status", "ListPacts", "CreatePact", "SwitchPact",
                 "RenamePact", "DeletePact", "JoinPact"},
        "Pact": {"Status", "ListAgents", "CreateKnowledge", "ListKnowledge", "PostMessage",
                 "ListMessages", "CreateTask", "ListTasks", "GetTask", "ClaimTask",
                 "CompleteTask", "ReleaseTask", "PublishSkill", "ListSkills", "GetSkillContent",
                 "InstallSkill", "ListInstalledSkills", "GetEntry", "ReferencedBy", "Changes",
                 "SetInfo", "SetMe", "MintInvite", "ListInvites", "RevokeInvite",
                 "RedeemInvite"},
        "Events": {"Subscribe"},
    }  # fmt: skip
    # Admin calls and Shutdown stay on the raw stubs on purpose.
    raw_only = {
        "Host": {"Shutdown"},
        "Pact": {"AddMember", "RemoveMember", "PromoteMember", "AdminRemove"},
        "Events": set(),
    }
    files = (host_pb2, pact_pb2, events_pb2)
    for f in files:
        for service in f.DESCRIPTOR.services_by_name.values():
            methods = {m.name for m in service.methods}
            assert methods == wrapped[service.name] | raw_only[service.name], service.name


def test_pb_exports_every_message_and_enum() -> None:
    for f in (common_pb2, host_pb2, pact_pb2, events_pb2):
        names = list(f.DESCRIPTOR.message_types_by_name) + list(f.DESCRIPTOR.enum_types_by_name)
        for name in names:
            assert getattr(pb, name) is getattr(f, name), name
            assert name in pb.__all__


def test_raw_stubs_are_reachable(daemon: Daemon) -> None:
    with openpact.Client(daemon.data_dir) as c:
        assert c.host.Ping(pb.PingRequest()).ok
        assert isinstance(c.channel, grpc.Channel)
        assert callable(c.pact.AddMember) and callable(c.events.Subscribe)


def test_typing_ships_with_the_package() -> None:
    root = resources.files("openpact")
    assert root.joinpath("py.typed").is_file()
    for name in ("common", "host", "pact", "events"):
        assert root.joinpath(f"_proto/openpact/v1/{name}_pb2.pyi").is_file()
        assert root.joinpath(f"_proto/openpact/v1/{name}_pb2_grpc.pyi").is_file()


def test_generated_code_imports_its_siblings_relatively() -> None:
    proto = Path(str(resources.files("openpact"))) / "_proto"
    for f in (*proto.rglob("*.py"), *proto.rglob("*.pyi")):
        text = f.read_text()
        assert "from openpact.v1 import" not in text, f
        assert "import openpact.v1" not in text, f


def test_an_async_client_made_before_its_loop_runs(daemon: Daemon) -> None:
    # grpc.aio binds a channel to the loop it is made in; the client makes it on first use.
    client = openpact.AsyncClient(daemon.data_dir)

    async def use() -> bool:
        try:
            return (await client.ping()).ok
        finally:
            await client.close()

    results: list[bool] = []
    thread = threading.Thread(
        target=lambda: results.extend([asyncio.run(use()), asyncio.run(use())])
    )
    thread.start()
    thread.join(30)
    assert results == [True, True]
