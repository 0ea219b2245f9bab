"""Scripted answers for the local model server: the demo's questions and outcomes.

Each `Script` holds, for one question, every stand-in model's answer and the
synthesis a careful synthesis model would give. The synthesis template names
models; `ScriptBook.synthesis_for` rewrites it with the letters the real
synthesis prompt used, so the bot's own label mapping is what gets tested.
"""

# The answers below are Markdown whose paragraphs are single lines, as a model
# sends them; wrapping them to 88 columns would change the text.
# ruff: noqa: E501

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.panel import Stance
from bot.sandbox.debates import (
    DEMO_DEBATES,
    DebateScript,
    debate_blocks,
    relabelled_debate,
    unscripted_debate,
)
from bot.sandbox.model_server import Behavior, Pace

SWIFT = "quorum-swift"
STEADY = "quorum-steady"
DEEP = "quorum-deep"
PANEL_MODELS = (SWIFT, STEADY, DEEP)
SYNTHESIS_MODEL = "quorum-synth"

# Over the sessions answers: swift about 2.2 s, steady 3.9 s, deep 7.2 s (its
# answer is also the longest), then the synthesis about 1.2 s.
DEMO_BEHAVIORS: dict[str, Behavior] = {
    SWIFT: Behavior(Pace(ttft_s=0.3, tokens_per_s=120)),
    STEADY: Behavior(Pace(ttft_s=0.5, tokens_per_s=80)),
    DEEP: Behavior(Pace(ttft_s=0.9, tokens_per_s=60)),
    SYNTHESIS_MODEL: Behavior(Pace(ttft_s=0.4, tokens_per_s=500)),
}

UNMATCHED_VERDICT = "did not match the script, so the stand-in cannot place it"
NO_SCRIPT_VERDICT = "no answer: no script for this question"
MATCH_PREFIX_CHARS = 200

_ANSWER_BLOCK = re.compile(r'<answer label="([^"]+)">\n(.*?)\n</answer>', re.DOTALL)
_QUESTION = re.compile(
    r"Question:\n(.*?)(?=\n<answer label=|\nLetters in use:|\Z)", re.S
)


@dataclass(frozen=True)
class Script:
    """One scripted question: the answers per served model and their synthesis.

    `synthesis` has the shape `SYNTHESIS_SYSTEM` asks for, with model names
    where the synthesis model would put answer letters.
    """

    key: str
    question: str
    keywords: tuple[str, ...]
    answers: dict[str, str]
    synthesis: dict[str, Any]

    def __post_init__(self) -> None:
        unknown = self.referenced_models() - set(self.answers)
        if unknown:
            raise ValueError(f"script {self.key!r} names unknown models {unknown}")
        grouped = [m for g in self.synthesis["verdict_groups"] for m in g["answers"]]
        if sorted(grouped) != sorted(self.answers):
            raise ValueError(
                f"script {self.key!r}: every model must be in exactly one verdict group"
            )
        if not self.matches(self.question):
            raise ValueError(f"script {self.key!r}: its keywords miss its question")

    def matches(self, text: str) -> bool:
        lowered = text.lower()
        return all(keyword.lower() in lowered for keyword in self.keywords)

    def referenced_models(self) -> set[str]:
        """Every model name the synthesis template refers to."""
        synthesis = self.synthesis
        names = {m for g in synthesis["verdict_groups"] for m in g["answers"]}
        for disagreement in synthesis["disagreements"]:
            names.update(m for p in disagreement["positions"] for m in p["answers"])
        names.update(item["answer"] for item in synthesis["unique_insights"])
        names.update(item["answer"] for item in synthesis["uncertain_answers"])
        return names

    def model_for(self, text: str, exclude: Iterable[str] = ()) -> str | None:
        """The model whose scripted answer `text` is, allowing for trimming."""
        text = text.strip()
        candidates = [m for m in self.answers if m not in set(exclude)]
        for model in candidates:
            if self.answers[model].strip() == text:
                return model
        for model in candidates:
            if text.startswith(self.answers[model].strip()[:MATCH_PREFIX_CHARS]):
                return model
        return None


def unscripted_answer(model: str) -> str:
    """What every stand-in says to a question it has no script for."""
    return (
        "**I can't judge this question.**\n\n"
        f"I am {model}, a local stand-in model that Quorum runs for its offline "
        "demo and tests in place of a real provider. I only serve answers "
        "written in advance for a few demo questions, and I have no script for "
        "this one, so anything more I said would be made up.\n\n"
        "I am unsure of the answer and make no recommendation. For a real "
        "answer, give Quorum real models (set OPENAI_API_KEY, ANTHROPIC_API_KEY "
        "or GEMINI_API_KEY) and ask again."
    )


@dataclass(frozen=True)
class ScriptBook:
    """The scripts a `ModelServer` answers from."""

    scripts: tuple[Script, ...]
    synthesis_model: str = SYNTHESIS_MODEL
    debates: tuple[DebateScript, ...] = ()

    def __post_init__(self) -> None:
        keys = [script.key for script in (*self.scripts, *self.debates)]
        if len(keys) != len(set(keys)):
            raise ValueError(f"script keys must be unique: {keys}")

    def __getitem__(self, key: str) -> Script:
        for script in self.scripts:
            if script.key == key:
                return script
        raise KeyError(key)

    def debate(self, key: str) -> DebateScript:
        for script in self.debates:
            if script.key == key:
                return script
        raise KeyError(key)

    def match_debate(self, text: str) -> DebateScript | None:
        found = [script for script in self.debates if script.matches(text)]
        return max(found, key=lambda s: len(s.keywords), default=None)

    def debate_answer_for(self, model: str, stance: Stance, user_message: str) -> str:
        """What `model` says when told to argue `stance` on the proposal."""
        script = self.match_debate(user_message)
        if script is None or stance not in script.answers:
            return unscripted_answer(model)
        return script.answers[stance]

    def debate_synthesis_for(self, user_message: str) -> str:
        """The debate synthesis JSON for a debate synthesis prompt, in its letters."""
        question_match = _QUESTION.search(user_message)
        question = question_match.group(1) if question_match else user_message
        blocks = debate_blocks(user_message)
        script = self.match_debate(question)
        if script is None:
            return json.dumps(unscripted_debate(blocks), indent=2)
        return json.dumps(relabelled_debate(script, blocks), indent=2)

    def match(self, text: str) -> Script | None:
        """The script whose keywords all appear in `text` (the most specific)."""
        found = [script for script in self.scripts if script.matches(text)]
        return max(found, key=lambda s: len(s.keywords), default=None)

    def served_models(self) -> list[str]:
        names = {m for script in self.scripts for m in script.answers}
        return sorted(names | {self.synthesis_model})

    def answer_for(self, model: str, user_message: str) -> str:
        script = self.match(user_message)
        if script is None or model not in script.answers:
            return unscripted_answer(model)
        return script.answers[model]

    def synthesis_for(self, user_message: str) -> str:
        """The synthesis JSON for a synthesis prompt, in the prompt's letters."""
        question_match = _QUESTION.search(user_message)
        question = question_match.group(1) if question_match else user_message
        blocks = _ANSWER_BLOCK.findall(user_message)
        script = self.match(question)
        if script is None:
            synthesis = unscripted_synthesis([label for label, _ in blocks])
        else:
            synthesis = relabelled_synthesis(script, blocks)
        return json.dumps(synthesis, indent=2)


def relabelled_synthesis(
    script: Script, blocks: list[tuple[str, str]]
) -> dict[str, Any]:
    """`script.synthesis` with model names replaced by the blocks' letters.

    Models absent from `blocks` vanish, and so do the groups and positions
    they leave empty; an answer the script does not know gets its own group.
    """
    letters: dict[str, str] = {}
    unmatched: list[str] = []
    for label, text in blocks:
        model = script.model_for(text, exclude=letters)
        if model is None:
            unmatched.append(label)
        else:
            letters[model] = label
    order = [label for label, _ in blocks]

    def relabel(models: list[str]) -> list[str]:
        return sorted((letters[m] for m in models if m in letters), key=order.index)

    template = script.synthesis
    groups = [
        {"verdict": g["verdict"], "answers": relabel(g["answers"])}
        for g in template["verdict_groups"]
    ]
    groups += [{"verdict": UNMATCHED_VERDICT, "answers": [u]} for u in unmatched]
    return {
        "verdict_groups": [g for g in groups if g["answers"]],
        # An answer the script cannot place may not share these points.
        "agreement": [] if unmatched else list(template["agreement"]),
        "disagreements": _relabelled_disagreements(template, relabel),
        "unique_insights": [
            {"answer": letters[i["answer"]], "insight": i["insight"]}
            for i in template["unique_insights"]
            if i["answer"] in letters
        ],
        "uncertain_answers": [
            {"answer": letters[u["answer"]], "reason": u["reason"]}
            for u in template["uncertain_answers"]
            if u["answer"] in letters
        ],
        "recommended_action": template["recommended_action"],
    }


def _relabelled_disagreements(template: dict[str, Any], relabel: Any) -> list[Any]:
    disagreements = []
    for disagreement in template["disagreements"]:
        positions = [
            {"answers": relabel(p["answers"]), "view": p["view"]}
            for p in disagreement["positions"]
        ]
        positions = [p for p in positions if p["answers"]]
        if len(positions) >= 2:  # one position left is no disagreement
            disagreements.append(
                {"topic": disagreement["topic"], "positions": positions}
            )
    return disagreements


def unscripted_synthesis(labels: list[str]) -> dict[str, Any]:
    """The synthesis of stand-in answers to a question with no script."""
    return {
        "verdict_groups": [{"verdict": NO_SCRIPT_VERDICT, "answers": list(labels)}]
        if labels
        else [],
        "agreement": [
            "Every answer says it comes from a local stand-in model with no "
            "script for this question and makes no recommendation."
        ],
        "disagreements": [],
        "unique_insights": [],
        "uncertain_answers": [
            {
                "answer": label,
                "reason": "The local stand-in has no script for this question, "
                "so it could not judge it.",
            }
            for label in labels
        ],
        "recommended_action": "Ask real models: set OPENAI_API_KEY, "
        "ANTHROPIC_API_KEY or GEMINI_API_KEY and ask again. The offline "
        "stand-in only knows its scripted demo questions.",
    }


# a. Sessions: three agree on Redis; one raises the ACID condition.

_SESSIONS_SWIFT = """\
**Verdict: use Redis for session storage.**

Why:
- A session is read on almost every request. Redis answers from memory in well under a millisecond, so it adds next to nothing to request latency.
- Expiry is built in: give each key a TTL (`SET session:<id> <data> EX 1800`) and extend it on activity. No purge job, and no dead rows piling up.
- For high availability, run Redis Sentinel (a primary, two replicas, automatic failover), or Redis Cluster once the session set outgrows one node.

Trade-offs:
- Replication is asynchronous, so a failover can lose the last few writes. For sessions that means a handful of users sign in again, which is usually acceptable.
- Turn on AOF with `appendfsync everysec`. A restarted node then comes back missing at most about a second of sessions instead of logging everyone out.

Keep session payloads small (user id, CSRF token, a few flags) and load everything else from your main database."""

_SESSIONS_STEADY = """\
**Verdict: Redis, deployed with Sentinel, is the better session store here.**

| Concern | Redis | PostgreSQL |
|---|---|---|
| Read latency | sub-millisecond, from memory | a query, low milliseconds |
| Expiry | native per-key TTL | an `expires_at` column and a purge job |
| Write churn | cheap overwrites | each update leaves a dead tuple for autovacuum |
| Failover | Sentinel promotes a replica in seconds | streaming replication plus Patroni or similar |
| Durability | async replication, optional persistence | WAL, synchronous replication available |

Sessions are small, hot and disposable: the worst result of losing one is a user signing in again. That profile fits Redis. A typical node configuration:

```
maxmemory-policy volatile-ttl
save 900 1
appendonly no
```

RDB snapshots are enough for sessions; AOF adds a disk write per change to protect data you can afford to lose.

I would reconsider only if your organisation cannot take on operating another datastore, in which case a PostgreSQL table with an index on `expires_at` will carry moderate traffic."""

_SESSIONS_DEEP = """\
**Verdict: Redis for most deployments, with one condition that would make PostgreSQL the better choice.**

Session storage is a read-heavy, short-lived, key-value workload, and Redis fits it directly. Lookups by session id come from memory, per-key TTLs handle expiry without a cleanup job, Redis Sentinel gives automatic failover across a primary and its replicas, and Redis Cluster shards the keyspace once one node is not enough. I would enable AOF with `appendfsync everysec`, so a restarted node returns with all but roughly the last second of sessions.

Two costs deserve a plain statement. Replication is asynchronous, so a failover can drop the most recent writes, and during a network partition an isolated primary can keep accepting writes that are discarded when it rejoins. For login sessions that is usually tolerable.

The condition: if a session write must commit or roll back together with business data, for example a checkout step that updates an order and the session's cart state as one unit, PostgreSQL is the better home. One database gives you one ACID transaction; splitting the two writes across Redis and PostgreSQL means writing compensation logic for the case where one succeeds and the other fails. An UNLOGGED table looks like a fast middle ground, but it is emptied after a crash and not replicated to standbys, which defeats the high-availability goal.

So check first whether any session write has to be transactional with your domain data. If none does, choose Redis."""

SESSIONS = Script(
    key="sessions",
    question="Should we use Redis or PostgreSQL for session storage in a high-availability web app?",
    keywords=("redis", "postgres", "session"),
    answers={SWIFT: _SESSIONS_SWIFT, STEADY: _SESSIONS_STEADY, DEEP: _SESSIONS_DEEP},
    synthesis={
        "verdict_groups": [
            {
                "verdict": "Use Redis for session storage, with Sentinel or Cluster for high availability.",
                "answers": [SWIFT, STEADY, DEEP],
            }
        ],
        "agreement": [
            "Redis suits sessions: lookups by session id are served from memory and per-key TTLs handle expiry without a cleanup job.",
            "Redis Sentinel, or Cluster at larger scale, provides the automatic failover a high-availability app needs.",
            "Losing a few recent session writes in a failover is usually acceptable, because the cost is users signing in again.",
        ],
        "disagreements": [
            {
                "topic": "How to configure Redis persistence for sessions",
                "positions": [
                    {
                        "answers": [SWIFT, DEEP],
                        "view": "Enable AOF with appendfsync everysec so a restart loses at most about a second of sessions.",
                    },
                    {
                        "answers": [STEADY],
                        "view": "RDB snapshots are enough; AOF costs a disk write per change to protect data that can be lost.",
                    },
                ],
            }
        ],
        "unique_insights": [
            {
                "answer": DEEP,
                "insight": "If session writes must commit in one transaction with business data, PostgreSQL is better, because splitting the writes across two stores needs compensation logic.",
            }
        ],
        "uncertain_answers": [],
        "recommended_action": "Confirm whether any session write must be transactional with business data. If none is, use Redis with Sentinel, and pick AOF or snapshots by how costly a mass sign-out would be.",
    },
)


# b. Queue: two recommend Kafka, one RabbitMQ for operational reasons.

_QUEUE_SWIFT = """\
**Verdict: Kafka.**

Telemetry from many devices is a high-volume, append-only stream, which is the workload Kafka is built for:
- **Throughput.** A modest three-broker cluster takes hundreds of thousands of small messages per second once producers batch and compress.
- **Replay.** Messages stay on disk for the retention period, so a new consumer, or a fixed aggregation job, can reprocess last week's readings. A classic or quorum queue in RabbitMQ deletes a message once it is acknowledged.
- **Order per device.** Key messages by device id and each device's readings stay in order within their partition.
- **Fan-out.** Any number of consumer groups read the same topic independently.

Plan for:
- Choosing the partition count up front from the consumer parallelism you expect; adding partitions later remaps keys to partitions.
- `acks=all`, replication factor 3 and `min.insync.replicas=2` for readings you cannot lose.
- Field devices speak MQTT, not Kafka: put an MQTT broker or gateway at the edge and bridge into Kafka.

RabbitMQ would win if volumes are low and the main job is routing commands to individual devices."""

_QUEUE_STEADY = """\
**Verdict: RabbitMQ, unless your sustained volume is far beyond what one small cluster handles.**

For most industrial teams the deciding factor is not peak throughput but who keeps the broker healthy at 3 a.m.

| | RabbitMQ | Kafka |
|---|---|---|
| Routing | exchanges route each message by pattern, e.g. `plant.*.temperature` | consumers filter; routing lives in your code |
| Devices | built-in MQTT plugin, devices connect directly | needs a separate MQTT bridge |
| Operations | one service, quorum queues, a management UI | brokers, KRaft controllers, partition planning, rebalances |
| Throughput | tens of thousands of msg/s per node is comfortable | far higher with batching |
| Replay | streams (3.9+) when you need it | native, by retention |

For a small team, Kafka's operational surface is a real and recurring cost: partition counts, retention and disk sizing, consumer lag monitoring and broker upgrades all need someone who knows them well. RabbitMQ's per-message routing also maps naturally onto plant needs, such as sending alarms to one queue and bulk readings to another.

Choose Kafka instead if you expect sustained rates above roughly 50,000 messages per second, need weeks of history to reprocess, or already have a platform team that runs it."""

_QUEUE_DEEP = """\
**Verdict: Kafka, provided the telemetry is sustained and you expect to reprocess history.**

Industrial telemetry is usually continuous: thousands of sensors each emitting a reading every second or faster. Kafka models that as a partitioned, replicated log. Producers batch and compress, brokers write sequentially, and consumers track their own offsets, so throughput grows by adding partitions and brokers rather than by tuning queue depth.

Retention matters more than raw speed. Because readings stay in the log for days or weeks, you can rebuild a derived table, backfill a new anomaly model or replay an incident window without asking devices to resend anything. A RabbitMQ queue is a buffer that empties as consumers acknowledge; its streams feature narrows the gap, but most telemetry tooling, such as Kafka Connect sinks into time-series stores and stream processors, is built around Kafka.

The costs are real. Kafka needs capacity planning for partitions and disk, consumer lag monitoring, and care during rebalances, and it does not speak MQTT, so devices need a gateway.

If your sites produce a few hundred messages per second, or the main need is routing commands and alarms to specific consumers, RabbitMQ is simpler and adequate. Measure the sustained rate and how far back you need to replay before committing."""

QUEUE = Script(
    key="queue",
    question="For an industrial IoT telemetry pipeline, should our message queue be RabbitMQ or Kafka?",
    keywords=("rabbitmq", "kafka", "telemetry"),
    answers={SWIFT: _QUEUE_SWIFT, STEADY: _QUEUE_STEADY, DEEP: _QUEUE_DEEP},
    synthesis={
        "verdict_groups": [
            {
                "verdict": "Use Kafka for its throughput and replayable retention.",
                "answers": [SWIFT, DEEP],
            },
            {
                "verdict": "Use RabbitMQ for simpler operations and per-message routing.",
                "answers": [STEADY],
            },
        ],
        "agreement": [
            "Kafka has the higher throughput and replays history natively through retention.",
            "RabbitMQ is adequate at modest volumes and when messages must be routed to specific consumers.",
            "Field devices speak MQTT, which RabbitMQ accepts through a plugin while Kafka needs a bridge or gateway.",
        ],
        "disagreements": [
            {
                "topic": "Which broker to run",
                "positions": [
                    {
                        "answers": [SWIFT, DEEP],
                        "view": "Kafka, because telemetry is a sustained high-volume stream and replay matters.",
                    },
                    {
                        "answers": [STEADY],
                        "view": "RabbitMQ, because a small team can operate it and it routes each message.",
                    },
                ],
            }
        ],
        "unique_insights": [
            {
                "answer": STEADY,
                "insight": "Operational complexity can decide it: partition planning, lag monitoring and broker upgrades need someone who knows Kafka well.",
            },
            {
                "answer": SWIFT,
                "insight": "Choose the partition count up front, because adding partitions later remaps device keys to partitions.",
            },
        ],
        "uncertain_answers": [],
        "recommended_action": "Measure the sustained message rate and how far back you need to replay, and decide who will operate the broker. A high rate or replay needs point to Kafka; modest volume and a small team point to RabbitMQ.",
    },
)


# c. Auth: three different hypotheses.

_AUTH_SWIFT = """\
**Likely cause: a race in token refresh.**

Under load, several requests notice at the same moment that the access token is about to expire, and each starts a refresh. If your identity provider rotates refresh tokens, the first refresh invalidates the old refresh token, the others fail, and the requests waiting on them go out without a valid token.

Signs that point here:
- Failures cluster around token lifetime boundaries, every 5, 15 or 60 minutes.
- The identity provider logs `invalid_grant` or "refresh token already used".
- The errors vanish at low concurrency.

Fix:
- Make the refresh single-flight: one refresh in progress per credential, and every other caller awaits its result.
- Refresh early, at around 80% of the token's lifetime, instead of on expiry.
- On a 401, retry once after the shared refresh has completed."""

_AUTH_STEADY = """\
**Most likely: the connection pool to the auth service runs dry.**

When every pooled connection is busy, new validation calls wait for one to free up. Once they wait longer than the client's acquire timeout, the call fails and the request is treated as unauthenticated. It only happens under load because that is when the pool saturates.

Make the limit explicit so exhaustion shows up as its own error:

```python
limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
timeout = httpx.Timeout(2.0, pool=0.5)  # PoolTimeout after 0.5 s in the queue
client = httpx.AsyncClient(limits=limits, timeout=timeout)
```

Then look for `PoolTimeout` (or your client's equivalent) in the logs and line up pool usage metrics with the failure timestamps.

Fixes, in order:
1. Validate JWTs locally against cached signing keys, or cache validation results, so most requests never call the auth service.
2. Size the pool for your peak concurrency and keep connections alive.
3. Map a pool timeout to 503 rather than 401, so clients retry instead of signing users out.

If failures occur while connections sit idle, look elsewhere."""

_AUTH_DEEP = """\
**Hypothesis: clock skew between the token issuer and the services that validate JWTs.**

A JWT carries `iat`, `nbf` and `exp` claims, and each validating service compares them with its own clock. If a host runs a few seconds ahead or behind, a freshly issued token can look not yet valid, or one close to expiry can look expired. The failures then depend on which instance serves the request, which is why this often appears under load: autoscaling adds instances that may not have finished synchronising time, and containers on an overloaded host can drift.

To confirm it, log the rejection reason instead of a bare 401. Errors such as PyJWT's `ImmatureSignatureError`, or expiry rejections for tokens issued seconds earlier, give it away. Compare each validating host's clock with the issuer's, for example with `chronyc tracking`.

The remedies are cheap: run chrony or another NTP client everywhere, alert on offsets above a second, and give the validator a small leeway of 30 to 60 seconds. Keep the leeway short, because it also extends the life of a stolen token.

I am not certain of this one. If the failures follow request rate rather than particular hosts, a resource limit is the better suspect."""

AUTH = Script(
    key="auth",
    question="We see intermittent authentication failures under load. What is the likely cause?",
    keywords=("intermittent", "auth", "under load"),
    answers={SWIFT: _AUTH_SWIFT, STEADY: _AUTH_STEADY, DEEP: _AUTH_DEEP},
    synthesis={
        "verdict_groups": [
            {
                "verdict": "A race in token refresh, where concurrent refreshes invalidate each other.",
                "answers": [SWIFT],
            },
            {
                "verdict": "Connection pool exhaustion on calls to the auth service.",
                "answers": [STEADY],
            },
            {
                "verdict": "Clock skew between the token issuer and the hosts that validate JWTs.",
                "answers": [DEEP],
            },
        ],
        "agreement": [
            "The fault only shows under concurrency or scale, so it is not a broken credential or configuration.",
            "Each cause leaves a distinct trace in logs or metrics, which is how to tell them apart.",
        ],
        "disagreements": [
            {
                "topic": "The root cause of the failures",
                "positions": [
                    {
                        "answers": [SWIFT],
                        "view": "Concurrent token refreshes race and invalidate each other's refresh tokens.",
                    },
                    {
                        "answers": [STEADY],
                        "view": "Validation calls time out waiting for a free connection to the auth service.",
                    },
                    {
                        "answers": [DEEP],
                        "view": "Validating hosts with skewed clocks reject tokens as not yet valid or expired.",
                    },
                ],
            }
        ],
        "unique_insights": [
            {
                "answer": SWIFT,
                "insight": "Rotating refresh tokens turn concurrent refreshes into failures, so the refresh should be single-flight.",
            },
            {
                "answer": STEADY,
                "insight": "A pool timeout should return 503 rather than 401, so clients retry instead of signing users out.",
            },
            {
                "answer": DEEP,
                "insight": "Instances added by autoscaling may not have synchronised their clocks yet.",
            },
        ],
        "uncertain_answers": [
            {
                "answer": DEEP,
                "reason": "It is not certain of clock skew and would suspect a resource limit if failures follow request rate rather than particular hosts.",
            }
        ],
        "recommended_action": "Check the cheapest first: line up connection pool usage and pool timeouts with the failure times; then see whether failures cluster at token expiry or show invalid_grant on refresh; then audit clock offsets on the issuing and validating hosts.",
    },
)


# d. Unsure: a question about an unreleased version.

_UNSURE_SWIFT = """\
**I don't know, and nobody can yet: PostgreSQL 21 has not been released and its defaults are not settled.**

What is known:
- `wal_compression` compresses the full-page images written to WAL. It has been off by default since it was added in 9.5.
- Since PostgreSQL 15 it accepts `pglz`, `lz4` and `zstd` as well as `on` (which means `pglz`), so enabling it can be cheaper on CPU than it used to be.
- Changes to defaults are agreed on the pgsql-hackers list and listed in the release notes. I have no information about any decision for version 21.

What to do instead:
- Set the value explicitly in `postgresql.conf`, for example `wal_compression = lz4` if your server was built with LZ4, so a future change of default cannot surprise you.
- Read the version 21 release notes when its first beta appears."""

_UNSURE_STEADY = """\
**Probably not: the default has been `off` since the setting was added, and nothing I know of points to a change.**

| Versions | `wal_compression` |
|---|---|
| 9.5 to 14 | boolean, default `off` |
| 15 and later | `off`, `on`, `pglz`, `lz4`, `zstd`; default `off` |

PostgreSQL changes defaults conservatively, because every change alters how existing installations behave after an upgrade. `lz4` and `zstd` also depend on build options, so a default that relied on them would not work on every build, which makes flipping it harder. On that record I expect version 21 to keep `off`.

Whatever the default ends up being, decide the setting on your own numbers and set it explicitly:

```sql
ALTER SYSTEM SET wal_compression = 'lz4';
SELECT pg_reload_conf();
```

Compare `wal_bytes` in `pg_stat_wal` and CPU use before and after, under your normal write load. Compression pays off most right after checkpoints, when many full-page images are written."""

_UNSURE_DEEP = """\
**I can't answer this reliably: PostgreSQL 21 is still in the future, and a release's defaults are settled only when its release notes are written.**

What I can offer is the history. `wal_compression` arrived in 9.5 as an on/off switch for compressing full-page images in the WAL, and it shipped disabled. PostgreSQL 15 turned it into a choice of method, `pglz`, `lz4` or `zstd`, and kept the default at `off`. Enabling it often cuts WAL volume noticeably after checkpoints, at the cost of CPU on every full-page write, and that is exactly the kind of trade-off the project weighs carefully before changing a default. Whether anyone proposes such a change for version 21, and whether it is accepted, depends on discussions and benchmarks I have no knowledge of.

So treat any confident answer to this question with suspicion, including one that sounds like mine. If the default matters to you, set the value explicitly in your configuration now, so an upgrade cannot change it, and check the release notes for version 21 when the first beta is published; their migration section lists changed defaults."""

UNSURE = Script(
    key="unsure",
    question="Will PostgreSQL 21 turn on wal_compression by default?",
    keywords=("wal_compression", "21"),
    answers={SWIFT: _UNSURE_SWIFT, STEADY: _UNSURE_STEADY, DEEP: _UNSURE_DEEP},
    synthesis={
        "verdict_groups": [
            {
                "verdict": "It cannot be known yet, because PostgreSQL 21 has not been released.",
                "answers": [SWIFT, DEEP],
            },
            {
                "verdict": "Probably not; the default is likely to stay off.",
                "answers": [STEADY],
            },
        ],
        "agreement": [
            "wal_compression has been off by default since it was added, and PostgreSQL 15 added the pglz, lz4 and zstd methods.",
            "Setting the value explicitly protects you from any future change of default.",
        ],
        "disagreements": [
            {
                "topic": "Whether the outcome can be predicted",
                "positions": [
                    {
                        "answers": [SWIFT, DEEP],
                        "view": "No; the defaults of an unreleased version are not decided.",
                    },
                    {
                        "answers": [STEADY],
                        "view": "A guess is reasonable: the project's conservative record suggests the default stays off.",
                    },
                ],
            }
        ],
        "unique_insights": [
            {
                "answer": STEADY,
                "insight": "lz4 and zstd depend on build options, so a default relying on them would not work on every build.",
            }
        ],
        "uncertain_answers": [
            {
                "answer": SWIFT,
                "reason": "It says it has no information about any decision for version 21.",
            },
            {
                "answer": DEEP,
                "reason": "It says the outcome depends on project discussions and benchmarks it has no knowledge of.",
            },
        ],
        "recommended_action": "Do not rely on a predicted default. Set wal_compression explicitly, measure its effect on WAL volume and CPU under your own load, and read the version 21 release notes when the beta appears.",
    },
)


# e. Monolith: neutral answers that fall into three verdicts.

_MONOLITH_SWIFT = """\
**Verdict: not yet. Enforce module boundaries inside the monolith first, and extract services only where the conditions below hold.**

Microservices solve organisational and scaling problems, and they add network calls, distributed data and many more deployments to run. Check three things:
- **Team size.** With one team, or fewer than about 20 engineers, coordinating in one codebase is cheap and services mostly add overhead.
- **Domain boundaries.** If you cannot name modules that own their data and rarely change together, services will call each other constantly and you get a distributed monolith.
- **Deployment pain.** If teams block each other's releases, or one component needs very different scaling, that is a real reason to split.

If fewer than two of these point towards services, make the monolith modular: separate packages, no module reading another's tables, and an architecture test that fails the build on a forbidden import. A well-bounded module is cheap to extract later, so you keep the option open.

In every case, avoid a big-bang rewrite."""

_MONOLITH_STEADY = """\
**Verdict: migrate selectively. Extract two or three services with clear boundaries and distinct load, and keep the rest as a monolith.**

| Factor | Points to extracting | Points to staying |
|---|---|---|
| Team size | several teams, 20+ engineers | one or two teams |
| Domain boundaries | modules with their own data and few cross-calls | shared tables, tangled dependencies |
| Deployment | teams wait on each other's releases | one pipeline ships in minutes |
| Scaling | one part needs far more capacity than the rest | load is even |
| Operations | tracing, per-service CI and on-call exist | none of that yet |

The usual good outcome is a hybrid. Pull out the few components whose scaling or release cadence clearly differ, such as search, notifications or a high-traffic API, using the strangler-fig pattern so the monolith keeps serving everything else. Each extracted service needs its own data store; if it still reads the monolith's tables, it is not independent.

Set a measurable goal first, such as lead time for changes or the cost of scaling one hot path, and check it after the first extraction before committing to more."""

_MONOLITH_DEEP = """\
**Verdict: I can't recommend either without knowing your team size, where your domain boundaries lie and what makes deployment painful today.**

Microservices are mainly an answer to organisational scale. When several teams, usually more than about twenty engineers, work in one codebase, they start to queue behind each other's releases, and independent services let each team ship on its own schedule. With one or two teams that benefit is small, and you still pay for failures between services, sagas in place of transactions, versioned APIs and the tracing needed to follow one request across processes.

Domain boundaries are the second test. Services cut along lines that do not match how the business changes produce chatty calls and coordinated deployments, which is worse than the monolith you started with.

Deployment pain is the third, and it deserves scrutiny. If releases hurt because the build takes forty minutes or the tests are flaky, fixing the pipeline is far cheaper than changing the architecture, and removes the pain just as well.

Tell me those three things and the answer usually becomes clear. Whatever you decide, migrate incrementally, never as a rewrite."""

MONOLITH = Script(
    key="monolith",
    question="Should we migrate from our monolith to microservices?",
    keywords=("monolith", "microservice"),
    answers={SWIFT: _MONOLITH_SWIFT, STEADY: _MONOLITH_STEADY, DEEP: _MONOLITH_DEEP},
    synthesis={
        "verdict_groups": [
            {
                "verdict": "Not yet: make the monolith modular and extract services only when the conditions hold.",
                "answers": [SWIFT],
            },
            {
                "verdict": "Migrate selectively: extract two or three services with clear boundaries and distinct load.",
                "answers": [STEADY],
            },
            {
                "verdict": "No recommendation without knowing team size, domain boundaries and the cause of deployment pain.",
                "answers": [DEEP],
            },
        ],
        "agreement": [
            "Team size, clear domain boundaries and deployment pain are the conditions that decide it.",
            "Services cut without clear domain boundaries stay tightly coupled.",
            "Any migration should be incremental, never a big-bang rewrite.",
        ],
        "disagreements": [
            {
                "topic": "What to do now",
                "positions": [
                    {
                        "answers": [SWIFT],
                        "view": "Keep the monolith and enforce module boundaries inside it.",
                    },
                    {
                        "answers": [STEADY],
                        "view": "Start extracting a few services now with the strangler-fig pattern.",
                    },
                    {
                        "answers": [DEEP],
                        "view": "Gather the facts first; no recommendation yet.",
                    },
                ],
            }
        ],
        "unique_insights": [
            {
                "answer": DEEP,
                "insight": "If deployment pain comes from a slow build or flaky tests, fixing the pipeline removes it far more cheaply than a new architecture.",
            },
            {
                "answer": STEADY,
                "insight": "Set a measurable goal, such as lead time for changes, and check it after the first extraction.",
            },
            {
                "answer": SWIFT,
                "insight": "An architecture test that fails the build on cross-module imports keeps modules cheap to extract later.",
            },
        ],
        "uncertain_answers": [
            {
                "answer": DEEP,
                "reason": "It says it cannot recommend either without the team size, the domain boundaries and the cause of deployment pain.",
            }
        ],
        "recommended_action": "Write down how many teams you have, the domain boundaries you can name and what makes releases painful. If several teams block each other and boundaries are clear, extract two or three services with the strangler-fig pattern; otherwise make the monolith modular and revisit later.",
    },
)


DEMO_BOOK = ScriptBook((SESSIONS, QUEUE, AUTH, UNSURE, MONOLITH), debates=DEMO_DEBATES)
