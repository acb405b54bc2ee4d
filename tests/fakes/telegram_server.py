"""A fake Telegram Bot API server on 127.0.0.1 for end-to-end tests of the real PTB `Application`.

It speaks the wire protocol PTB 22 uses: `POST /bot<token>/<method>` with form-encoded bodies
(nested objects as JSON strings) or JSON, answers `{"ok": true, "result": ...}`, and reports
errors the way Telegram does (HTTP status + `description`, 429 with `parameters.retry_after`).
Like Telegram it refuses text over 4096 characters and HTML it cannot parse with a 400; its HTML
parser is a little stricter than Telegram's (a bare `&` is an error) so escaping slips show up.

Tests put updates in with `message()`, `press()`, `edit()`, `channel_post()` and read what the bot
did from `sent`, `actions`, `callback_answers`, `commands` and `calls`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from retrieval.settings import Settings

MESSAGE_LIMIT = 4096
BOT_USER = {"id": 424242, "is_bot": True, "first_name": "NewsQA", "username": "newsqa_test_bot"}

# Telegram's HTML subset (https://core.telegram.org/bots/api#html-style).
_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre",
         "blockquote", "tg-emoji"}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TOKEN = re.compile(
    r"<(/?)([a-zA-Z][\w-]*)((?:\s+[^<>]*)?)>"  # a tag
    r"|&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);"  # an entity
    r"|([<>&])"  # a markup character that should have been escaped
    r"|([^<>&]+)"  # plain text
)


class HTMLError(ValueError):
    """Text Telegram would refuse with `Bad Request: can't parse entities`."""


def parse_html(text: str) -> str:
    """The visible text of Telegram HTML, or HTMLError where Telegram's parser would fail."""
    out: list[str] = []
    stack: list[str] = []
    for match in _TOKEN.finditer(text):
        closing, tag, _attrs, entity, stray, plain = match.groups()
        if plain is not None:
            out.append(plain)
        elif stray is not None:
            raise HTMLError(f"unescaped {stray!r} at byte offset {match.start()}")
        elif entity is not None:
            if entity.startswith("#"):
                out.append(chr(int(entity[2:], 16) if entity[1] in "xX" else int(entity[1:])))
            elif entity in _NAMED:
                out.append(_NAMED[entity])
            else:
                raise HTMLError(f"unsupported HTML entity &{entity};")
        else:
            name = tag.lower()
            if name not in _TAGS:
                raise HTMLError(f"unsupported start tag {name!r} at byte offset {match.start()}")
            if closing:
                if not stack or stack[-1] != name:
                    raise HTMLError(f"can't find end tag corresponding to start tag {stack[-1:] or name!r}")
                stack.pop()
            else:
                if name == "blockquote" and "blockquote" in stack:
                    raise HTMLError("nested blockquotes are not allowed")
                stack.append(name)
    if stack:
        raise HTMLError(f"can't find end tag corresponding to start tag {stack[-1]!r}")
    return "".join(out)


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _entities(text: str) -> list[dict[str, Any]]:
    """The bot_command and mention entities Telegram would attach to a text (UTF-16 offsets)."""
    found = []
    command = re.match(r"/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?", text)
    if command:
        found.append({"type": "bot_command", "offset": 0, "length": utf16_len(command.group())})
    for mention in re.finditer(r"(?<![\w/])@[A-Za-z0-9_]{5,32}", text):
        found.append({"type": "mention", "offset": utf16_len(text[: mention.start()]),
                      "length": utf16_len(mention.group())})
    return found


def user(user_id: int, first_name: str = "Reader", username: str | None = None,
         language_code: str = "en") -> dict[str, Any]:
    """A Telegram `User` object for a person, with their app's language."""
    data: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name,
                            "language_code": language_code}
    if username:
        data["username"] = username
    return data


def private_chat(person: dict[str, Any]) -> dict[str, Any]:
    """The private chat between a person and the bot."""
    return {"id": person["id"], "type": "private", "first_name": person["first_name"]}


def group_chat(chat_id: int = -1001234567890, title: str = "Newsroom", forum: bool = False) -> dict[str, Any]:
    """A supergroup chat (a forum one, with topics, when `forum`)."""
    chat: dict[str, Any] = {"id": chat_id, "type": "supergroup", "title": title}
    if forum:
        chat["is_forum"] = True
    return chat


def channel_chat(chat_id: int = -1009876543210, title: str = "News channel") -> dict[str, Any]:
    """A channel."""
    return {"id": chat_id, "type": "channel", "title": title}


@dataclass
class Sent:
    """A message the bot sent, with every later edit."""

    chat_id: int
    message_id: int
    html: str
    text: str
    reply_markup: dict[str, Any] | None
    reply_to: int | None
    thread_id: int | None = None  # the forum topic it was sent to
    created: float = field(default_factory=time.monotonic)
    history: list[str] = field(default_factory=list)  # earlier HTML versions, oldest first
    edited_at: list[float] = field(default_factory=list)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """The inline buttons under the message, row by row flattened."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [button for row in rows for button in row]


@dataclass
class Fault:
    """A scripted misbehaviour for the next calls of one method."""

    method: str
    times: int
    status: int = 200
    body: dict[str, Any] | None = None
    delay: float = 0.0  # seconds to wait *after* doing the work, before answering


class FakeTelegram:
    """The fake Bot API: state, update queue, and the aiohttp app that serves it."""

    def __init__(self, token: str = "123456:TEST-token-do-not-log") -> None:
        self.token = token
        self.updates: list[dict[str, Any]] = []
        self.sent: list[Sent] = []
        self.actions: list[tuple[int, str]] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []  # the default menu
        self.localized_commands: dict[str, list[dict[str, Any]]] = {}  # menus by language_code
        self.calls: list[tuple[str, dict[str, Any], int]] = []  # (method, params, HTTP status)
        self.faults: list[Fault] = []
        self.chats: dict[int, dict[str, Any]] = {}
        self.webhook: dict[str, Any] | None = None
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0
        # conversations of bots talking to this server are kept apart from every other test's
        self.state_dir = Path(tempfile.mkdtemp(prefix="fake-telegram-"))

    # --- server lifecycle -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What TELEGRAM_BASE_URL should be for a bot to reach this server."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application(client_max_size=2**22)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Close the listening socket and any open long polls."""
        if self._runner:
            await self._runner.cleanup()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def settings_for(self, base: Settings, **overrides: Any) -> Settings:
        """`base` with the token and Bot API URL of this server, a state file of its own (and any other
        overrides)."""
        connection = {"telegram_bot_token": SecretStr(self.token), "telegram_base_url": self.base_url,
                      "bot_state_file": self.state_dir / "bot-state.pickle"}
        return base.model_copy(update={**connection, **overrides})

    # --- putting updates in -----------------------------------------------------------------

    def message(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any] | None,
        text: str | None = None,
        reply_to: dict[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Queue a new message (text, or other fields such as `sticker=`); returns the Message object."""
        msg = self._new_message(chat, sender, text, reply_to, **fields)
        self._push({"message": msg})
        return msg

    def update(self, chat: dict[str, Any], sender: dict[str, Any], text: str) -> dict[str, Any]:
        """A message update as Telegram would post it to a webhook (not queued for getUpdates)."""
        return {"update_id": next(self._update_ids), "message": self._new_message(chat, sender, text, None)}

    def edit(self, original: dict[str, Any], text: str) -> dict[str, Any]:
        """Queue an `edited_message` update replacing a message's text."""
        msg = {**original, "text": text, "edit_date": int(time.time())}
        msg.pop("entities", None)
        if entities := _entities(text):
            msg["entities"] = entities
        self._push({"edited_message": msg})
        return msg

    def channel_post(self, chat: dict[str, Any], text: str) -> dict[str, Any]:
        """Queue a post in a channel."""
        msg = self._new_message(chat, None, text, None, sender_chat=chat)
        self._push({"channel_post": msg})
        return msg

    def press(self, sent: Sent, data: str, sender: dict[str, Any]) -> str:
        """Queue a callback query for an inline button under a message the bot sent; returns its id."""
        query_id = str(next(self._callback_ids))
        self._push({
            "callback_query": {
                "id": query_id,
                "from": sender,
                "message": self.messages[(sent.chat_id, sent.message_id)],
                "chat_instance": f"ci{sent.chat_id}",
                "data": data,
            }
        })
        return query_id

    def fail(self, method: str, status: int, description: str, times: int = 1, **parameters: Any) -> None:
        """Make the next `times` calls of `method` fail like Telegram would."""
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        self.faults.append(Fault(method, times, status, body))

    def stall(self, method: str, seconds: float, times: int = 1) -> None:
        """Do the next `times` calls of `method` but answer only after `seconds` (a lost reply)."""
        self.faults.append(Fault(method, times, delay=seconds))

    def _new_message(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any] | None,
        text: str | None,
        reply_to: dict[str, Any] | None,
        **fields: Any,
    ) -> dict[str, Any]:
        self.chats[chat["id"]] = chat
        msg: dict[str, Any] = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": chat}
        if sender is not None:
            msg["from"] = sender
        if text is not None:
            msg["text"] = text
            if entities := _entities(text):
                msg["entities"] = entities
        if reply_to is not None:
            msg["reply_to_message"] = reply_to
        if fields.get("caption") and (entities := _entities(fields["caption"])):
            msg["caption_entities"] = entities
        msg.update(fields)
        self.messages[(chat["id"], msg["message_id"])] = msg
        return msg

    def _push(self, update: dict[str, Any]) -> None:
        update["update_id"] = next(self._update_ids)
        self.updates.append(update)
        task = asyncio.get_running_loop().create_task(self._notify())
        self._tasks.add(task)  # keep a reference until it has run
        task.add_done_callback(self._tasks.discard)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # --- reading what the bot did ---------------------------------------------------------

    def replies(self, chat_id: int) -> list[Sent]:
        """Messages the bot sent to a chat, in order."""
        return [s for s in self.sent if s.chat_id == chat_id]

    def called(self, method: str) -> list[tuple[dict[str, Any], int]]:
        """Every call of one method: (params, HTTP status)."""
        return [(params, status) for name, params, status in self.calls if name == method]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Wait until `predicate()` is truthy (checked after every API call) and return its value."""
        async def check() -> Any:
            async with self._changed:
                while not (result := predicate()):
                    await self._changed.wait()
                return result

        return await asyncio.wait_for(check(), timeout)

    async def wait_replies(self, chat_id: int, count: int = 1, timeout: float = 30.0) -> list[Sent]:
        """Wait until the bot has sent `count` messages to a chat; returns them."""
        await self.wait_for(lambda: len(self.replies(chat_id)) >= count, timeout)
        return self.replies(chat_id)

    async def ask(self, chat: dict[str, Any], sender: dict[str, Any], text: str | None,
                  **fields: Any) -> list[Sent]:
        """Send a message and wait for the bot's next message in that chat; returns what it sent since."""
        before = len(self.replies(chat["id"]))
        self.message(chat, sender, text, **fields)
        await self.wait_replies(chat["id"], before + 1)
        return self.replies(chat["id"])[before:]

    async def settle(self, app: Any) -> None:
        """Wait until every queued update was fetched and `app` (a PTB Application) handled it."""
        quiet = 0
        while quiet < 3:
            handling = app.update_processor.current_concurrent_updates
            busy = self.updates or not app.update_queue.empty() or handling
            quiet = 0 if busy else quiet + 1
            await asyncio.sleep(0.05)

    # --- the Bot API ----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            body = {"ok": False, "error_code": 401, "description": "Unauthorized"}
            return web.json_response(body, status=401)
        method = request.match_info["method"]
        params = await self._params(request)
        fault = self._take_fault(method)
        if fault and fault.status != 200:
            await self._record(method, params, fault.status)
            return web.json_response(fault.body, status=fault.status)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            await self._record(method, params, 404)
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        try:
            result = await handler(params)
        except _BadRequest as exc:
            await self._record(method, params, 400)
            return web.json_response(
                {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"}, status=400
            )
        await self._record(method, params, 200)
        if fault and fault.delay:
            await asyncio.sleep(fault.delay)
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            value = str(value)
            # PTB sends nested objects (reply_markup, commands, ...) as JSON strings
            if value[:1] in "[{":
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            params[key] = value
        return params

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    async def _record(self, method: str, params: dict[str, Any], status: int) -> None:
        self.calls.append((method, params, status))
        await self._notify()

    async def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**BOT_USER, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        return True

    async def _api_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = params
        return True

    async def _api_setMyCommands(self, params: dict[str, Any]) -> bool:
        if params.get("language_code"):
            self.localized_commands[str(params["language_code"])] = list(params.get("commands", []))
        else:
            self.commands = list(params.get("commands", []))
        return True

    async def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0) or 0)
        limit = int(params.get("limit", 100) or 100)
        timeout = float(params.get("timeout", 0) or 0)
        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = asyncio.get_running_loop().time() + timeout
        async with self._changed:
            while not self.updates:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    break
        return self.updates[:limit]

    async def _api_sendChatAction(self, params: dict[str, Any]) -> bool:
        self._chat(params)
        self.actions.append((int(params["chat_id"]), str(params["action"])))
        return True

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        self.callback_answers.append(params)
        return True

    async def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        source, text = self._text(params)
        reply = params.get("reply_parameters") or {}
        msg = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": chat,
               "from": BOT_USER, "text": text}
        if params.get("reply_markup"):
            msg["reply_markup"] = params["reply_markup"]
        thread = int(params["message_thread_id"]) if params.get("message_thread_id") else None
        if thread is not None:
            msg.update(message_thread_id=thread, is_topic_message=True)
        self.messages[(chat["id"], msg["message_id"])] = msg
        self.sent.append(Sent(chat["id"], msg["message_id"], source, text, params.get("reply_markup"),
                              reply.get("message_id"), thread))
        return msg

    async def _api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        key = (chat["id"], int(params["message_id"]))
        record = next((s for s in self.sent if (s.chat_id, s.message_id) == key), None)
        if record is None:
            raise _BadRequest("message to edit not found")
        source, text = self._text(params)
        markup = params.get("reply_markup")
        if source == record.html and markup == record.reply_markup:
            raise _BadRequest("message is not modified: specified new message content and reply markup are "
                              "exactly the same as a current content and reply markup of the message")
        record.history.append(record.html)
        record.edited_at.append(time.monotonic())
        record.html, record.text, record.reply_markup = source, text, markup
        msg = {**self.messages[key], "text": text, "edit_date": int(time.time())}
        if markup:
            msg["reply_markup"] = markup
        else:
            msg.pop("reply_markup", None)
        self.messages[key] = msg
        return msg

    def _chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params.get("chat_id", 0))
        if chat_id not in self.chats:
            raise _BadRequest("chat not found")
        return self.chats[chat_id]

    def _text(self, params: dict[str, Any]) -> tuple[str, str]:
        source = str(params.get("text", ""))
        if params.get("parse_mode") == "HTML":
            try:
                text = parse_html(source)
            except HTMLError as exc:
                raise _BadRequest(f"can't parse entities: {exc}") from exc
        else:
            text = source
        if not text.strip():
            raise _BadRequest("message text is empty")
        if utf16_len(text) > MESSAGE_LIMIT:
            raise _BadRequest("message is too long")
        return source, text


class _BadRequest(Exception):
    pass
