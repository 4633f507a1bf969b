"""An independent NIP-90 peer built on nostr-sdk (rust-nostr) 0.44, driven over JSON lines.

Each stdin line is {"id": n, "op": ..., ...}; each answer is {"id": n, "ok": ..., ...} on stdout.
Tests use it to check that what nostr-sdk builds our library parses, and the other way round.
"""

import asyncio
import json
import sys
from datetime import timedelta

from nostr_sdk import (
    Client,
    DataVendingMachineStatus,
    Event,
    EventBuilder,
    Filter,
    JobFeedbackData,
    Keys,
    Kind,
    Nip44Version,
    NostrSigner,
    PublicKey,
    RelayUrl,
    SecretKey,
    Tag,
    nip04_decrypt,
    nip04_encrypt,
    nip44_decrypt,
    nip44_encrypt,
)

STATUSES = {
    "payment-required": DataVendingMachineStatus.PAYMENT_REQUIRED,
    "processing": DataVendingMachineStatus.PROCESSING,
    "partial": DataVendingMachineStatus.PARTIAL,
    "error": DataVendingMachineStatus.ERROR,
    "success": DataVendingMachineStatus.SUCCESS,
}


def describe(event: Event) -> dict:
    """What nostr-sdk itself understands of an event: validity, kind class, standardized tags."""
    tags = []
    for tag in event.tags().to_vec():
        std = tag.as_standardized()
        entry = {"raw": tag.as_vec(), "std": None if std is None else type(std).__name__.split(".")[-1]}
        if std is not None and std.is_event_tag():
            entry["value"] = std.event_id.to_hex()
        elif std is not None and std.is_public_key_tag():
            entry["value"] = std.public_key.to_hex()
        tags.append(entry)
    status = None
    for tag in event.tags().to_vec():
        std = tag.as_standardized()
        if std is not None and std.is_data_vending_machine_status_tag():
            status = {"status": std.status.name, "extra": std.extra_info}
    kind = event.kind()
    return {
        "verified": event.verify(),
        "kind": kind.as_u16(),
        "is_job_request": kind.is_job_request(),
        "is_job_result": kind.is_job_result(),
        "status": status,
        "tags": tags,
        "author": event.author().to_hex(),
        "id": event.id().to_hex(),
    }


async def client_for(keys: Keys, relays: list[str]) -> Client:
    client = Client(NostrSigner.keys(keys))
    for url in relays:
        await client.add_relay(RelayUrl.parse(url))
    await client.connect()
    await client.wait_for_connection(timedelta(seconds=5))
    return client


async def handle(req: dict) -> dict:
    op = req["op"]
    if op == "keys":
        keys = Keys.generate()
        return {"secret": keys.secret_key().to_hex(), "pubkey": keys.public_key().to_hex()}
    if op == "describe":
        return describe(Event.from_json(req["event"]))
    if op == "encrypt":
        sk, pk = SecretKey.parse(req["secret"]), PublicKey.parse(req["pubkey"])
        if req["scheme"] == "nip44":
            return {"payload": nip44_encrypt(sk, pk, req["text"], Nip44Version.V2)}
        return {"payload": nip04_encrypt(sk, pk, req["text"])}
    if op == "decrypt":
        sk, pk = SecretKey.parse(req["secret"]), PublicKey.parse(req["pubkey"])
        if req["scheme"] == "nip44":
            return {"text": nip44_decrypt(sk, pk, req["payload"])}
        return {"text": nip04_decrypt(sk, pk, req["payload"])}

    keys = Keys.parse(req["secret"]) if "secret" in req else Keys.generate()
    if op == "job_request":
        builder = EventBuilder.job_request(Kind(req["kind"])).tags([Tag.parse(t) for t in req["tags"]])
        if req.get("content"):
            # EventBuilder.job_request has no content argument; encrypted requests need one.
            builder = EventBuilder(Kind(req["kind"]), req["content"]).tags([Tag.parse(t) for t in req["tags"]])
        event = builder.sign_with_keys(keys)
    elif op == "job_result":
        request = Event.from_json(req["request"])
        builder = EventBuilder.job_result(request, req["payload"], req["msats"], req.get("bolt11"))
        event = builder.sign_with_keys(keys)
    elif op == "job_feedback":
        request = Event.from_json(req["request"])
        data = JobFeedbackData(request, STATUSES[req["status"]])
        if "msats" in req:
            data = data.amount(req["msats"], req.get("bolt11"))
        if req.get("extra"):
            data = data.extra_info(req["extra"])
        event = EventBuilder.job_feedback(data).sign_with_keys(keys)
    elif op == "fetch":
        client = await client_for(keys, req["relays"])
        events = await client.fetch_events(Filter.from_json(json.dumps(req["filter"])), timedelta(seconds=req.get("timeout", 3)))
        out = [{"json": e.as_json(), "describe": describe(e)} for e in events.to_vec()]
        await client.shutdown()
        return {"events": out}
    else:
        raise ValueError(f"unknown op {op}")

    sent = {}
    if req.get("relays"):
        client = await client_for(keys, req["relays"])
        output = await client.send_event(event)
        sent = {"success": sorted(u.__str__() for u in output.success), "failed": {str(k): v for k, v in output.failed.items()}}
        await client.shutdown()
    return {"event": json.loads(event.as_json()), "sent": sent}


async def main() -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        req = json.loads(line)
        try:
            answer = {"id": req["id"], "ok": True, **(await handle(req))}
        except Exception as e:  # noqa: BLE001 — every failure goes back to the test as data
            answer = {"id": req["id"], "ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(answer), flush=True)


asyncio.run(main())
