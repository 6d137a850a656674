"""The server backend (`--backend openai`): any model behind an OpenAI-compatible HTTP API.

vLLM's `vllm serve`, SGLang, llama.cpp's `llama-server`, Ollama, TGI and hosted APIs all speak it,
so a model too large for this process (a 70B zero-shot reverse-instruction model, a strong judge)
is one flag away. The prompts are the ones backward.py builds for every backend: text templates
go to ``/completions`` as the very token ids the in-process backends see (as text where a server
takes no token ids), chat templates go to ``/chat/completions`` as messages, which the server
renders with the model's own chat template.

Requests run concurrently (``concurrency`` in flight per server; several comma-separated base
URLs share the requests: data parallelism over servers) and come back in prompt order, so the
chunks, resume and byte-identical reruns of `generate` work as with the in-process backends.
Each candidate is its own request with its own seed (``candidate_seed``): what a sampled
candidate is depends only on its passage and index, and on the server honouring seeds.

Faults: the official ``openai`` client retries connection errors, timeouts, 408, 409, 429 and
5xx with exponential backoff and jitter (0.5 s doubling to 8 s; it honours Retry-After), up to
``max_retries`` times per request; past that the run stops with one sentence, and a finished chunk
is already on disk, so the same command resumes. Before any work the server is checked (reachable,
OpenAI-compatible, the key accepted, the model or adapter served) so that a wrong setting costs one
line, not a crashed run.

The API key comes from ``api_key`` or the environment and is never written anywhere: config dumps
mask it (config.to_dict) and the notes this backend leaves in stats.json hold no key or URL
credentials.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import urlsplit, urlunsplit

from .. import models
from ..errors import UserError
from .base import Completion, Decoding, Messages, candidate_seed, register

KEY_VARIABLES = ("BACKTRANSLATE_API_KEY", "OPENAI_API_KEY")
NO_KEY = "EMPTY"  # what servers started without --api-key accept (the client needs some key)
CHECK_TIMEOUT = 30.0  # seconds for each start-up check: a server that is up answers these at once
SEED_PROBE_TOKENS = 16
DEFAULT_CONCURRENCY = 16  # measured: benchmarks/throughput.py, RESULTS.md "Models behind a server"


@dataclass
class OpenAIOptions:
    """The server backend's own settings: flags and YAML keys of every command that runs a model."""

    base_url: Optional[str] = field(
        default=None,
        metadata={
            "help": "openai backend: the server's API root, e.g. http://127.0.0.1:8000/v1 (vLLM, "
            "SGLang, llama.cpp, Ollama, TGI, a hosted API). Several, comma-separated, share the "
            "requests (data parallel over servers)."
        },
    )
    api_key: Optional[str] = field(
        default=None,
        metadata={
            "help": "openai backend: the server's API key (default: $BACKTRANSLATE_API_KEY, then "
            "$OPENAI_API_KEY). Never written to any output.",
            "secret": True,
        },
    )
    served_model: Optional[str] = field(
        default=None,
        metadata={"help": "openai backend: the model name the server knows (default: the one model it serves)."},
    )
    lora_name: Optional[str] = field(
        default=None,
        metadata={
            "help": "openai backend: the name of a LoRA adapter the server serves (vLLM: "
            "--lora-modules NAME=PATH), asked for instead of the base model."
        },
    )
    concurrency: int = field(
        default=DEFAULT_CONCURRENCY,
        metadata={"help": "openai backend: requests in flight per server."},
    )
    request_timeout: float = field(
        default=300.0,
        metadata={"help": "openai backend: seconds to wait for one answer before retrying it."},
    )
    max_retries: int = field(
        default=8,
        metadata={
            "help": "openai backend: retries of a failed request (connection error, timeout, 429, "
            "5xx), with backoff from 0.5 s doubling to 8 s; then the run stops and can resume."
        },
    )

    def problems(self) -> list[str]:
        found = []
        if not self.base_url:
            found.append("--backend openai needs --base-url (e.g. http://127.0.0.1:8000/v1)")
        else:
            for url in split_urls(self.base_url):
                if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
                    found.append(
                        f"base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, got '{public(url)}'"
                    )
        if self.concurrency < 1:
            found.append("concurrency must be positive")
        if self.request_timeout <= 0:
            found.append("request_timeout must be positive")
        if self.max_retries < 0:
            found.append("max_retries must be 0 or more")
        return found


def split_urls(base_url: str) -> list[str]:
    return [u.strip().rstrip("/") for u in base_url.split(",") if u.strip()]


def public(url: str) -> str:
    """A URL without any user:password part, for messages and stats."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def import_openai() -> Any:
    try:
        import openai
    except ImportError:
        raise UserError("--backend openai needs the openai package: pip install openai") from None
    return openai


@dataclass
class _Request:
    prompt: list[int]
    messages: Optional[Messages]
    seed: int


@register("openai", options=OpenAIOptions)
class OpenAIBackend:
    """Requests to one or more OpenAI-compatible servers behind the Backend protocol."""

    takes_messages = True  # a chat template's prompts go to /chat/completions as messages

    def __init__(
        self,
        spec: Any,
        precision: str = "auto",
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        served_model: Optional[str] = None,
        lora_name: Optional[str] = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        request_timeout: float = 300.0,
        max_retries: int = 8,
    ) -> None:
        problems = OpenAIOptions(base_url, api_key, served_model, lora_name, concurrency, request_timeout, max_retries)
        if found := problems.problems():
            raise UserError("; ".join(found) + ".")
        self._openai = import_openai()
        self.precision = "server"  # the server chose it; local precision settings do not apply
        self.tokenizer = models.load_tokenizer(spec.spec)
        self.urls = split_urls(base_url or "")
        self._key = api_key or next((os.environ[v] for v in KEY_VARIABLES if os.environ.get(v)), NO_KEY)
        self.concurrency, self.timeout, self.max_retries = concurrency, request_timeout, max_retries
        self._unchecked: Optional[str] = None
        self._retried = 0  # requests retried before the notes exist (the start-up probe)
        self.model = self._served_model(spec, served_model, lora_name)
        self.prompt_format = self._prompt_format()
        # What the run's stats.json says about the server: where, which model, what it ignored.
        self.notes: dict[str, Any] = {
            "servers": [public(u) for u in self.urls],
            "served_model": self.model,
            "prompts": self.prompt_format,
            "ignored": [self._unchecked] if self._unchecked else [],
            "retried_requests": self._retried,
        }
        self._seed_checked = False

    # -- start-up checks: one actionable line before any work -------------------------------------

    def _client(self, url: str, timeout: float, retries: int, asynchronous: bool = False) -> Any:
        cls = self._openai.AsyncOpenAI if asynchronous else self._openai.OpenAI
        return cls(base_url=url, api_key=self._key, timeout=timeout, max_retries=retries)

    def _served_model(self, spec: Any, served_model: Optional[str], lora_name: Optional[str]) -> str:
        chosen = None
        for url in self.urls:
            served = self._models(url)
            names = [m["id"] for m in served]
            listing = ", ".join(names) or "nothing"
            if lora_name:
                base, _, adapter = lora_name.partition(":")
                if lora_name not in names and adapter and base in names:
                    # SGLang asks for an adapter as "base:adapter" and lists none in /models.
                    self._unchecked = f"adapter '{lora_name}': not listed by the server, not checked"
                elif lora_name not in names:
                    raise UserError(
                        f"The server at {public(url)} serves no adapter named '{lora_name}' (it serves: "
                        f"{listing}); start it with the adapter (vLLM: --enable-lora --lora-modules "
                        f"{lora_name}=PATH) or fix --lora-name."
                    )
                name = lora_name
            elif served_model:
                if served_model not in names:
                    raise UserError(
                        f"The server at {public(url)} does not serve '{served_model}' (it serves: "
                        f"{listing}): set --served-model to one of them."
                    )
                name = served_model
            elif spec.adapter is not None:
                # A `train` folder: the server must serve its adapter; vLLM lists it with its path.
                here = str(spec.adapter.resolve())
                name = next((m["id"] for m in served if str(m.get("root") or "").rstrip("/") == here), None)
                if name is None:
                    raise UserError(
                        f"--model {spec.spec} is a trained LoRA adapter, and the server at {public(url)} "
                        f"does not serve it (it serves: {listing}): start it with the adapter, e.g. "
                        f"`vllm serve {spec.base} --enable-lora --lora-modules backward={here}`, and "
                        "pass --lora-name backward (or --served-model NAME for a server of its merged weights)."
                    )
            elif len(names) == 1:
                name = names[0]
            elif spec.base in names:
                name = spec.base
            elif len(bases := [m["id"] for m in served if not m.get("parent")]) == 1:
                name = bases[0]  # vLLM lists LoRA modules with their parent: the one base model is it
            else:
                raise UserError(f"The server at {public(url)} serves {listing}: choose one with --served-model.")
            if chosen is not None and name != chosen:
                raise UserError(f"The servers in --base-url serve different models ({chosen}, {name}).")
            chosen = name
        return chosen

    def _models(self, url: str) -> list[dict[str, Any]]:
        """GET /models, or the sentence that says what is wrong with the server or the settings."""
        openai = self._openai
        # Few retries: a server that is down or a wrong URL should cost seconds, not the backoff.
        client = self._client(url, min(self.timeout, CHECK_TIMEOUT), min(self.max_retries, 2))
        try:
            page = client.models.list()
            return [m.model_dump() for m in page.data]
        except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
            raise UserError(
                f"The server at {public(url)} refused the API key ({e.status_code}): pass the key it "
                f"expects with --api-key or ${KEY_VARIABLES[0]}."
            ) from None
        except openai.APIConnectionError as e:
            raise UserError(
                f"Cannot reach a server at {public(url)} ({_cause(e)}): start it (README, 'Models "
                "behind a server') or fix --base-url."
            ) from None
        except (openai.APIStatusError, openai.APIResponseValidationError, AttributeError, TypeError, ValueError) as e:
            status = getattr(e, "status_code", None) or type(e).__name__
            raise UserError(
                f"{public(url)} does not answer as an OpenAI-compatible API (GET {public(url)}/models: "
                f"{status}); the base URL of vLLM, SGLang, llama.cpp and Ollama ends in /v1."
            ) from None
        finally:
            client.close()

    def _prompt_format(self) -> str:
        """ "tokens" where /completions takes token-id prompts (the exact prompt, no re-tokenizing),
        "text" where it takes only text, "chat-only" where the server has no /completions."""
        openai = self._openai
        url = self.urls[0]
        client = self._client(url, min(self.timeout, CHECK_TIMEOUT), self.max_retries)
        probe = self.tokenizer("Hello", add_special_tokens=False)["input_ids"]
        try:
            with self._server_errors(url, "a first request"):
                for prompt, form in ((probe, "tokens"), ("Hello", "text")):
                    try:  # refusals that say which prompt form the server takes, before any other error
                        raw = client.completions.with_raw_response.create(
                            model=self.model, prompt=prompt, max_tokens=1, temperature=0.0
                        )
                        self._retried += bool(raw.retries_taken)
                        return form
                    except (openai.BadRequestError, openai.UnprocessableEntityError):
                        continue
                    except openai.NotFoundError:
                        return "chat-only"
                return "chat-only"
        finally:
            client.close()

    @contextlib.contextmanager
    def _server_errors(self, url: str, what: str) -> Iterator[None]:
        """A failed request as a sentence a user can act on: retried to the bound and given up
        (connection error, timeout, 429, 5xx), or refused (any other status)."""
        openai = self._openai
        try:
            yield
        except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as e:
            raise _gave_up(url, self.max_retries, e) from None
        except openai.APIStatusError as e:
            raise UserError(f"The server at {public(url)} refused {what} ({e.status_code}: {_message(e)}).") from None

    # -- generation -------------------------------------------------------------------------------

    def complete(
        self,
        prompts: list[list[int]],
        keys: list[str],
        decoding: Decoding,
        stop: list[str],
        messages: Optional[list[Messages]] = None,
    ) -> list[list[Completion]]:
        """Completions per prompt, in prompt order; one request per candidate."""
        if messages is None and self.prompt_format == "chat-only":
            raise UserError(
                f"The server at {public(self.urls[0])} has no /completions endpoint, which text "
                "templates need: use a chat template (--template chat) with it."
            )
        if not decoding.greedy and not self._seed_checked:
            self._check_seed(prompts[0], messages[0] if messages else None, decoding)
        k = decoding.num_candidates
        requests = [
            _Request(prompt, messages[i] if messages else None, candidate_seed(decoding.seed, key, c))
            for i, (prompt, key) in enumerate(zip(prompts, keys))
            for c in range(k)
        ]
        answers = _run(self._all(requests, decoding, stop))
        return [answers[i * k : (i + 1) * k] for i in range(len(prompts))]

    def logprobs(self, sequences: list[list[int]], starts: list[int]) -> list[list[float]]:
        """Scoring: the server echoes each token-id prompt with its log-probabilities (vLLM,
        llama.cpp). Text prompts would be tokenized again on the server, so they are refused."""
        if self.prompt_format != "tokens":
            raise UserError(
                f"Scoring by log-probabilities needs token-id prompts, and the server at "
                f"{public(self.urls[0])} takes {self.prompt_format} prompts: use vLLM or SGLang."
            )
        return _run(self._each(len(sequences), lambda client, i: self._score(client, sequences[i], starts[i])))

    async def _score(self, client: Any, sequence: list[int], start: int) -> list[float]:
        with self._server_errors(str(client.base_url), "to score"):
            answer = await client.completions.create(
                model=self.model, prompt=sequence, max_tokens=1, temperature=0.0, echo=True, logprobs=0
            )
        found = (answer.choices[0].logprobs.token_logprobs or [])[: len(sequence)]
        if len(found) < len(sequence) or any(v is None for v in found[start:]):
            raise UserError(f"The server at {public(str(client.base_url))} does not echo prompt log-probabilities.")
        return [float(v) for v in found[start:]]

    def _check_seed(self, prompt: list[int], messages: Optional[Messages], decoding: Decoding) -> None:
        """Whether the server honours seeds (same seed, same sample): recorded in the run's stats,
        since sampled runs are reproducible only where it does."""
        self._seed_checked = True
        probe = Decoding(greedy=False, temperature=1.0, top_p=1.0, max_new_tokens=SEED_PROBE_TOKENS)
        twice = _run(self._all([_Request(prompt, messages, 1234)] * 2, probe, []))
        if twice[0].text != twice[1].text:
            self.notes["ignored"].append("seed: sampled candidates are not reproducible on this server")

    async def _all(self, requests: list[_Request], decoding: Decoding, stop: list[str]) -> list[Completion]:
        return await self._each(len(requests), lambda client, i: self._send(client, requests[i], decoding, stop))

    async def _each(self, count: int, work: Callable[[Any, int], Awaitable[Any]]) -> list[Any]:
        """``work(client, i)`` for every i, at most ``concurrency`` in flight per server (request
        i goes to server i mod the number of servers), results in order of i. The first failure
        cancels the rest: a chunk is finished whole or not at all."""
        clients = [self._client(u, self.timeout, self.max_retries, asynchronous=True) for u in self.urls]
        gate = asyncio.Semaphore(self.concurrency * len(clients))

        async def one(i: int) -> Any:
            async with gate:
                return await work(clients[i % len(clients)], i)

        tasks = [asyncio.ensure_future(one(i)) for i in range(count)]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            for client in clients:
                await client.close()

    async def _send(self, client: Any, request: _Request, decoding: Decoding, stop: list[str]) -> Completion:
        # Seeds below 2**31: TGI takes no negative seed, llama.cpp reads -1 as "random".
        args: dict[str, Any] = dict(
            model=self.model, max_tokens=decoding.max_new_tokens, seed=request.seed % 2**31, n=1
        )
        if decoding.greedy:
            args["temperature"] = 0.0
        else:
            args["temperature"] = decoding.temperature
            if decoding.top_p < 1.0:  # TGI refuses top_p=1.0 (422); leaving it out means the same
                args["top_p"] = decoding.top_p
        if stop:
            args["stop"] = list(stop)
        with self._server_errors(str(client.base_url), "a request"):
            if request.messages is not None:
                raw = await client.chat.completions.with_raw_response.create(messages=request.messages, **args)
                answer = raw.parse()
                text = answer.choices[0].message.content or ""
            else:
                prompt = request.prompt if self.prompt_format == "tokens" else self._text(request.prompt)
                raw = await client.completions.with_raw_response.create(prompt=prompt, **args)
                answer = raw.parse()
                text = answer.choices[0].text or ""
        if raw.retries_taken:
            self.notes["retried_requests"] += 1
        return self._completion(answer.choices[0].finish_reason, text, answer.usage, stop, decoding.max_new_tokens)

    def _completion(self, finish: Optional[str], text: str, usage: Any, stop: list[str], most: int) -> Completion:
        cut = min((i for i in (text.find(s) for s in stop) if i != -1), default=-1)
        if cut != -1:  # a server that ignored the stop strings: cut here, say so in the stats
            text, finish = text[:cut], "stop"
            self._note("stop strings: cut on this side")
        tokens = getattr(usage, "completion_tokens", None)
        if tokens is None:
            tokens = len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        if tokens > most:
            self._note("max_tokens: the server wrote more tokens than asked for")
        return Completion([], "length" if finish == "length" else "stop", text=text, tokens=tokens)

    def _text(self, prompt: list[int]) -> str:
        return self.tokenizer.decode(prompt)

    def _note(self, what: str) -> None:
        if what not in self.notes["ignored"]:
            self.notes["ignored"].append(what)

    def close(self) -> None:
        """Nothing to free: each chunk's clients (and their connections) close with the chunk."""


def _run(work: Coroutine) -> Any:
    """Run a coroutine to its end from synchronous code, also where an event loop is already
    running (a notebook): then in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


def _gave_up(url: str, retries: int, error: BaseException) -> UserError:
    return UserError(
        f"The server at {public(url)} failed {retries + 1} tries of a request ({_cause(error)}), so "
        "the run stopped. Finished chunks are saved: run the same command again to resume "
        "(--max-retries and --request-timeout allow a slow or restarting server more time)."
    )


def _cause(error: BaseException) -> str:
    """The innermost cause of a connection error, in a few words (ConnectError: ... refused)."""
    inner = error
    while inner.__cause__ is not None:
        inner = inner.__cause__
    text = str(inner).splitlines()[0] if str(inner) else ""
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__


def _message(error: Any) -> str:
    body = getattr(error, "body", None)
    text = body.get("message") if isinstance(body, dict) else None
    return re.sub(r"\s+", " ", str(text or error))[:300]
