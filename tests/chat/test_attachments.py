"""Files attached to chat messages, on the file system and on an S3-compatible server (moto's
server mode, run as its own process: a stand-in for S3): upload, the file's text in the model's
context, who may download, another user's and another tenant's ids over REST and in ``message``
frames, the tier's limits, and retention."""

import asyncio
import base64
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from channels.db import database_sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from billing.models import ModelPrice
from billing.pricing import forget_prices
from chat.files import attachments_storage, unsent_files_purge
from chat.history.background import history_purge
from chat.models import ChatFile, Conversation, Message
from tenants.models import Membership, Role, Tier
from testkit.fake_openai import FakeOpenAI
from testkit.pdfs import inflating_pdf, nested_pdf
from testkit.world import World, client_for, make_user
from testkit.ws import TIMEOUT, frames_until, open_chat

POLICY = b"# Warranty\nThe Zorvex kettle carries a 3-year warranty. Code WARR-3Y.\n"


@pytest.fixture
def file_storage(settings: Any, tmp_path: Path) -> Path:
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "attachments")},
        },
    }
    return tmp_path / "attachments"


def upload(client: Any, name: str, data: bytes, content_type: str) -> Any:
    return client.post(
        "/api/v1/attachments/",
        {"file": SimpleUploadedFile(name, data, content_type=content_type)},
        format="multipart",
    )


async def send_with_files(
    token: str, content: str, files: list[Any], path: str = "/ws/chat/"
) -> tuple[int, dict[str, Any]]:
    communicator, ready = await open_chat(token, path)
    await communicator.send_json_to(
        {"type": "message", "content": content, "client_id": str(uuid.uuid4()), "attachments": files}
    )
    last = (await frames_until(communicator, "done", "error"))[-1]
    await communicator.disconnect()
    return int(ready["conversation_id"]), last


def test_a_file_is_read_into_the_question_and_only_its_people_download_it(
    world: World, fake_llm: FakeOpenAI, file_storage: Path
) -> None:
    bob = client_for(world.token(world.bob, world.acme))
    uploaded = upload(bob, "warranty.md", POLICY, "text/markdown")
    assert uploaded.status_code == 201, uploaded.content
    file_id = uploaded.json()["id"]
    stored = ChatFile.objects.for_tenant(world.acme.pk).get(pk=file_id)
    assert (
        stored.key.startswith(f"t{world.acme.pk}/u{world.bob.pk}/") and (file_storage / stored.key).exists()
    )

    conversation_id, done = asyncio.run(
        send_with_files(world.token(world.bob, world.acme), "What does my file say? [[tokens=3]]", [file_id])
    )
    assert done["type"] == "done"
    question = fake_llm.calls[-1].messages[-1]["content"]
    assert (
        question.startswith("What does my file say?") and "WARR-3Y" in question and "warranty.md" in question
    )
    messages = bob.get(f"/api/v1/conversations/{conversation_id}/messages/").json()["results"]
    assert messages[0]["attachments"] == [
        {"id": file_id, "filename": "warranty.md", "content_type": "text/markdown", "size_bytes": len(POLICY)}
    ]
    assert messages[0]["content"] == "What does my file say? [[tokens=3]]"  # the user's words only
    assert bob.get(f"/api/v1/conversations/{conversation_id}/attachments/").json()[0]["id"] == file_id

    download = bob.get(f"/api/v1/attachments/{file_id}/download/")
    assert download.status_code == 200 and b"".join(download.streaming_content) == POLICY
    assert (
        download["Content-Disposition"].startswith("attachment")
        and download["X-Content-Type-Options"] == "nosniff"
    )
    owner = client_for(world.token(world.alice, world.acme))
    assert owner.get(f"/api/v1/attachments/{file_id}/download/").status_code == 200  # the tenant's owner
    colleague = make_user("cole")
    Membership.objects.create(tenant=world.acme, user=colleague, role=Role.MEMBER)
    for other in (
        client_for(world.token(colleague, world.acme)),
        client_for(world.token(world.carol, world.globex)),
    ):
        assert other.get(f"/api/v1/attachments/{file_id}/").status_code == 404
        assert other.get(f"/api/v1/attachments/{file_id}/download/").status_code == 404

    # Retention: the file goes with its message.
    Message.objects.for_tenant(world.acme.pk).update(created_at=timezone.now() - timedelta(days=40))
    history_purge(tenant_id=world.acme.pk, retention_days=30, now=timezone.now())
    assert (
        not ChatFile.objects.for_tenant(world.acme.pk).exists() and not (file_storage / stored.key).exists()
    )


async def test_another_users_or_tenants_file_ids_are_not_found_in_a_message(
    world: World, fake_llm: FakeOpenAI, file_storage: Path
) -> None:
    alice_file = (
        await database_sync_to_async(upload)(
            client_for(world.token(world.alice, world.acme)), "a.txt", b"alice's secret ALC-1", "text/plain"
        )
    ).json()["id"]
    carol_file = (
        await database_sync_to_async(upload)(
            client_for(world.token(world.carol, world.globex)), "c.txt", b"globex secret GLX-9", "text/plain"
        )
    ).json()["id"]
    bob_file = (
        await database_sync_to_async(upload)(
            client_for(world.token(world.bob, world.acme)), "b.txt", b"bob's note BOB-2", "text/plain"
        )
    ).json()["id"]
    for foreign in (alice_file, carol_file, 999_999):
        _, refused = await send_with_files(world.token(world.bob, world.acme), "read it", [foreign])
        assert refused["type"] == "error" and refused["code"] == "NOT_FOUND", foreign
    assert all("ALC-1" not in str(c.messages) and "GLX-9" not in str(c.messages) for c in fake_llm.calls)

    _, done = await send_with_files(world.token(world.bob, world.acme), "mine [[tokens=2]]", [bob_file])
    assert done["type"] == "done"
    # Sent in one conversation, it is not another conversation's to send.
    _, refused = await send_with_files(world.token(world.bob, world.acme), "again", [bob_file])
    assert refused["code"] == "NOT_FOUND"

    communicator, _ = await open_chat(world.token(world.bob, world.acme))
    for bad in ["7", [True], [1, 2, 3, 4, 5, 6], [-1], [{"id": 1}]]:
        await communicator.send_json_to(
            {"type": "message", "content": "x", "client_id": str(uuid.uuid4()), "attachments": bad}
        )
        frame = await communicator.receive_json_from(TIMEOUT)
        assert frame["code"] == "BAD_REQUEST" and "attachments" in frame["message"], bad
    await communicator.disconnect()


def test_limits_types_images_and_unsent_files(world: World, file_storage: Path) -> None:
    bob = client_for(world.token(world.bob, world.acme))
    refused = upload(bob, "tool.exe", b"MZ...", "application/x-msdownload")
    assert refused.status_code == 400 and "unsupported file type" in refused.json()["errors"]["file"][0]
    Tier.objects.filter(pk=world.acme.tier_id).update(attachment_max_bytes=10)
    too_big = upload(bob, "big.txt", b"x" * 11, "text/plain")
    assert too_big.status_code == 400 and "at most 10 bytes" in too_big.json()["errors"]["file"][0]
    Tier.objects.filter(pk=world.acme.tier_id).update(attachment_max_bytes=1_000_000)
    image = upload(bob, "photo.png", b"\x89PNG\r\n\x1a\nfake", "image/png")
    assert image.status_code == 201 and image.json()["content_type"] == "image/png"
    stored = ChatFile.objects.for_tenant(world.acme.pk).get(pk=image.json()["id"])
    assert stored.text == ""
    ChatFile.objects.for_tenant(world.acme.pk).update(created_at=timezone.now() - timedelta(days=2))
    assert unsent_files_purge(now=timezone.now()) == 1 and not (file_storage / stored.key).exists()


def test_hostile_files_and_false_types_are_refused_with_a_reason(world: World, file_storage: Path) -> None:
    """Issue 30, 1 and 2: the hostile PDFs answered 500; an HTML file declared an image was
    stored as one."""
    bob = client_for(world.token(world.bob, world.acme))
    for name, data, content_type, reason in [
        ("bomb.pdf", inflating_pdf(), "application/pdf", "expands past what may be read"),
        ("deep.pdf", nested_pdf(), "application/pdf", "nested too deeply"),
        ("photo.png", b"<html><script>alert(1)</script></html>", "image/png", "not image/png"),
        ("notes.txt", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "text/plain", "image/png, not text/plain"),
        ("table.csv", b"PK\x03\x04" + b"0" * 64, "text/csv", "application/zip, not text/csv"),
        ("report.pdf", b"plain words", "application/pdf", "not application/pdf"),
    ]:
        refused = upload(bob, name, data, content_type)
        assert refused.status_code == 400, (name, refused.content)
        assert reason in refused.json()["errors"]["file"][0], (name, refused.json())
    assert not ChatFile.objects.for_tenant(world.acme.pk).exists()
    assert not any(p.is_file() for p in file_storage.rglob("*"))


def test_unsent_files_and_uploads_a_minute_are_held_to_the_tier(world: World, file_storage: Path) -> None:
    """Issue 30, 2: a Free member stored 60 files of 512 KB in 2 s. Each quota refuses with the
    limit named (413; 429 with retry_after for the rate), and a refused file is not kept."""
    tier = Tier.objects.filter(pk=world.acme.tier_id)
    bob = client_for(world.token(world.bob, world.acme))
    alice = client_for(world.token(world.alice, world.acme))

    def refused_by(client: Any, data: bytes) -> dict[str, Any]:
        response = upload(client, "note.txt", data, "text/plain")
        assert response.status_code in (413, 429), response.content
        return dict(response.json(), status=response.status_code, header=response.get("Retry-After"))

    tier.update(attachment_uploads_per_minute=None, attachment_unsent_files_per_member=2)
    assert all(upload(bob, "note.txt", b"a note", "text/plain").status_code == 201 for _ in range(2))
    assert refused_by(bob, b"one more")["limit"] == "attachment_unsent_files_per_member"
    assert upload(alice, "note.txt", b"hers", "text/plain").status_code == 201  # a member's own quota

    tier.update(attachment_unsent_files_per_member=None, attachment_unsent_bytes_per_member=20)
    exceeded = refused_by(bob, b"x" * 10)
    assert exceeded["status"] == 413 and exceeded["code"] == "quota_exceeded"
    assert exceeded["limit"] == "attachment_unsent_bytes_per_member" and "at most 20" in exceeded["detail"]

    tier.update(attachment_unsent_bytes_per_member=None, attachment_unsent_files=3)
    assert refused_by(alice, b"x")["limit"] == "attachment_unsent_files"  # 2 of bob's and 1 of hers
    # Sent files are the conversation's: no longer counted.
    ChatFile.objects.for_tenant(world.acme.pk).filter(user=world.bob).update(
        conversation=Conversation.objects.for_tenant(world.acme.pk).create(tenant=world.acme, user=world.bob)
    )
    assert upload(alice, "note.txt", b"x", "text/plain").status_code == 201

    tier.update(attachment_unsent_files=None, attachment_unsent_bytes=None, attachment_uploads_per_minute=5)
    # bob uploaded 2 within the minute: 3 more, then the minute is full.
    assert all(upload(bob, "note.txt", b"x", "text/plain").status_code == 201 for _ in range(3))
    throttled = refused_by(bob, b"x")
    assert throttled["status"] == 429 and throttled["code"] == "rate_limited"
    assert throttled["limit"] == "attachment_uploads_per_minute" and 1 <= throttled["retry_after"] <= 60
    assert throttled["header"] == str(throttled["retry_after"])
    kept = ChatFile.objects.for_tenant(world.acme.pk)
    assert kept.count() == 7 and len([p for p in file_storage.rglob("*") if p.is_file()]) == 7


# -- S3 ----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    """moto's S3-compatible server in its own process (a stand-in for S3, on a free port)."""
    port = _free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture
def s3_storage(settings: Any, s3_server: str) -> Any:
    bucket = f"attachments-{_free_port()}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": s3_server,
                "access_key": "test",
                "secret_key": "test",
                "region_name": "us-east-1",
                "default_acl": "private",
                "querystring_auth": True,
                "querystring_expire": 300,
                "file_overwrite": False,
                "signature_version": "s3v4",
            },
        },
    }
    return client, bucket


def test_on_s3_keys_begin_with_the_tenant_and_downloads_are_short_lived_signed_urls(
    world: World, fake_llm: FakeOpenAI, s3_storage: Any
) -> None:
    client, bucket = s3_storage
    bob = client_for(world.token(world.bob, world.acme))
    file_id = upload(bob, "warranty.md", POLICY, "text/markdown").json()["id"]
    key = ChatFile.objects.for_tenant(world.acme.pk).get(pk=file_id).key
    assert key.startswith(f"t{world.acme.pk}/")
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == POLICY
    _, done = asyncio.run(send_with_files(world.token(world.bob, world.acme), "read [[tokens=2]]", [file_id]))
    assert done["type"] == "done" and "WARR-3Y" in fake_llm.calls[-1].messages[-1]["content"]

    redirect = bob.get(f"/api/v1/attachments/{file_id}/download/")
    assert redirect.status_code == 302
    signed = redirect["Location"]
    assert "X-Amz-Signature=" in signed and "X-Amz-Expires=300" in signed and bucket in signed
    with urllib.request.urlopen(signed, timeout=10) as response:  # noqa: S310 (the local S3 stand-in)
        assert response.read() == POLICY
    unsigned = signed.split("?")[0]
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(unsigned, timeout=10)  # noqa: S310 (private: no signature, no file)
    assert (
        client_for(world.token(world.carol, world.globex))
        .get(f"/api/v1/attachments/{file_id}/download/")
        .status_code
        == 404
    )

    Message.objects.for_tenant(world.acme.pk).update(created_at=timezone.now() - timedelta(days=40))
    history_purge(tenant_id=world.acme.pk, retention_days=30, now=timezone.now())
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    assert attachments_storage().exists(key) is False


def test_an_image_goes_to_a_model_that_reads_images_and_is_named_to_one_that_does_not(
    world: World, fake_llm: FakeOpenAI, file_storage: Path
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"pixels" * 10
    bob = client_for(world.token(world.bob, world.acme))
    first = upload(bob, "broken-kettle.png", png, "image/png").json()["id"]
    _, done = asyncio.run(
        send_with_files(world.token(world.bob, world.acme), "What is broken? [[tokens=2]]", [first])
    )
    assert done["type"] == "done"
    text, image = fake_llm.calls[-1].messages[-1]["content"]
    assert text["type"] == "text" and "broken-kettle.png (it is given with this message)" in text["text"]
    assert image == {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{base64.b64encode(png).decode()}"},
    }

    ModelPrice.objects.update(accepts_images=False)
    forget_prices()
    second = upload(bob, "again.png", png, "image/png").json()["id"]
    _, done = asyncio.run(
        send_with_files(world.token(world.bob, world.acme), "And now? [[tokens=2]]", [second])
    )
    question = fake_llm.calls[-1].messages[-1]["content"]
    assert isinstance(question, str) and "again.png (this model is not given images)" in question
