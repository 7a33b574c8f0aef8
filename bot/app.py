"""The Bolt app: `/reaper`, the Stop and Keep buttons, the App Home tab, and the scheduled report.

Listeners ack at once and do nothing slow there; scans, stops and message updates run in
lazy listeners (a second Lambda invocation, or a thread in Socket Mode). Bolt swallows
exceptions raised in lazy listeners, so every lazy listener reports its own failures.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from slack_bolt import App, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot import blocks, keep_dialog, owners
from bot.approvers import Approvers
from bot.blocks import KEEP_ACTION, STOP_ACTION
from bot.config import SlackConfig
from bot.errors import BotConfigError, BotError
from reaper.errors import AwsUnavailable, ReaperError
from reaper.model import Decision, Outcome, Result
from reaper.ports import Services
from reaper.settings import Settings, is_region

# The reaper's use cases and gateways (pynamodb, botocore models) are imported inside the
# lazy listeners that use them: the ack path needs none of them, and a cold start that
# only acks should not pay for them.

log = logging.getLogger(__name__)
# Powertools Metrics instances share one metric set: bot.handler's `log_metrics` publishes these.
metrics = Metrics()

COMMAND = "/reaper"
NO_MESSAGE = "The report itself was not updated: Slack sent this click without the message."


@dataclass
class Runtime:
    """What listeners need, built once per process (the Lambda init phase, the Socket Mode start).

    Building it calls nothing: the core's gateways create their AWS clients on first use.
    """

    config: SlackConfig
    services: Services
    approvers: Approvers = field(init=False)

    def __post_init__(self) -> None:
        self.approvers = Approvers(self.config)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def __deepcopy__(self, memo: dict[int, Any]) -> Runtime:
        # Bolt deep-copies the context for lazy listeners; this is a shared, thread-safe container.
        return self


def web_client(config: SlackConfig, *, with_token: bool = True) -> WebClient:
    """A Web API client at SLACK_API_URL that waits out 429s (only lazy work calls the Web API)."""
    return WebClient(
        token=config.bot_token if with_token else None,
        base_url=config.api_url,
        timeout=10,
        retry_handlers=[ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(max_retry_count=3)],
        logger=logging.getLogger("slack_sdk.web"),
    )


def build_app(runtime: Runtime, *, process_before_response: bool, bolt_logger: logging.Logger | None = None) -> App:
    config = runtime.config

    def authorize(enterprise_id: str | None, team_id: str | None, user_id: str | None) -> AuthorizeResult:
        # One workspace and a static bot token: no auth.test round trip in any cold start or ack.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id,
                               bot_token=config.bot_token)

    with _token_hidden_from_bolt():
        app = App(
            # Not "instance-reaper": Bolt configures a logger named after the app (copying its own
            # WARNING level onto it), which would silence the Powertools service logger of that name.
            name="reaper-bolt",
            # The token comes from `authorize`, per request; a client without one makes Bolt use it.
            client=web_client(config, with_token=False),
            authorize=authorize,
            signing_secret=config.signing_secret,
            request_verification_enabled=bool(config.signing_secret),
            token_verification_enabled=False,
            # On FaaS the response can only be sent once the handler returns, so ack before returning.
            process_before_response=process_before_response,
            logger=bolt_logger,
        )

    @app.middleware
    def installation(body: dict[str, Any], context: Any, next_: Callable[[], Any]) -> Any:
        refusal = installation_refusal(config, body)
        if refusal is not None:
            log.warning("request refused: %s", refusal)
            return BoltResponse(status=403, body="This Reaper is not installed for this workspace.")
        context["runtime"] = runtime
        return next_()

    app.command(COMMAND, matchers=[_is("scan")])(ack=ack_scan, lazy=[run_scan])
    app.command(COMMAND, matchers=[_is("status")])(ack=ack_status, lazy=[show_status])
    app.command(COMMAND, matchers=[_is("savings")])(ack=ack_status, lazy=[show_savings])
    app.command(COMMAND)(answer_command)
    app.action(STOP_ACTION)(ack=ack_click, lazy=[stop_clicked])
    # Keep opens its dialog within the ack (the trigger_id lasts 3 s); the dialog's submission keeps.
    app.action(KEEP_ACTION)(open_keep_dialog)
    app.view(keep_dialog.CALLBACK_ID)(ack=ack_keep_dialog, lazy=[keep_submitted])
    app.event("app_home_opened")(ack=ack_event, lazy=[publish_home])
    return app


@contextmanager
def _token_hidden_from_bolt() -> Iterator[None]:
    """Bolt's App reads SLACK_BOT_TOKEN from the environment even when it is given a client and an
    `authorize`, then warns at every start that it will not use it (slack_bolt/app/app.py). The
    token is in SlackConfig already; App is built once per process, before any listener runs."""
    token = os.environ.pop("SLACK_BOT_TOKEN", None)
    try:
        yield
    finally:
        if token is not None:
            os.environ["SLACK_BOT_TOKEN"] = token


def installation_refusal(config: SlackConfig, body: dict[str, Any]) -> str | None:
    """A reason when the request comes from another workspace or app than the configured ones."""
    team = body.get("team_id") or (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id")
    app_id = body.get("api_app_id")
    if config.team_id and team != config.team_id:
        return f"team {team!r} is not the configured SLACK_TEAM_ID"
    if config.app_id and app_id != config.app_id:
        return f"app {app_id!r} is not the configured SLACK_APP_ID"
    return None


# -- /reaper -------------------------------------------------------------------------------


def parse_command(text: str | None) -> tuple[str, list[str]]:
    words = (text or "").split()
    return (words[0].lower(), words[1:]) if words else ("help", [])


def _is(name: str) -> Callable[..., bool]:
    def matches(body: dict[str, Any]) -> bool:
        return parse_command(body.get("text"))[0] == name

    matches.__name__ = f"is_{name}"
    return matches


def scan_regions(runtime: Runtime, args: list[str]) -> tuple[list[str], str | None]:
    """The regions asked for (all configured when none), or an error naming the bad ones.

    Regions may be separated by spaces or commas (`us-east-1,eu-west-1`, as REAPER_REGIONS
    has them); one named twice is scanned once.
    """
    settings = runtime.settings
    wanted = list(dict.fromkeys(part.strip() for arg in args for part in arg.split(",") if part.strip()))
    bad = [r for r in wanted if not is_region(r) or not settings.scans(r)]
    if bad:
        return [], f"Not a configured region: {', '.join(bad)} (configured: {', '.join(settings.regions)})"
    return wanted or list(settings.regions), None


def answer_command(ack: Any, command: dict[str, Any]) -> None:
    sub, _ = parse_command(command.get("text"))
    message = blocks.usage(None if sub == "help" else f"Unknown subcommand `{sub}`.")
    ack(text=message.text, blocks=message.blocks, response_type="ephemeral")


def ack_scan(ack: Any, command: dict[str, Any], context: Any) -> None:
    regions, error = scan_regions(context["runtime"], parse_command(command.get("text"))[1])
    if error:
        message = blocks.usage(error)
        ack(text=message.text, blocks=message.blocks, response_type="ephemeral")
        return
    ack(text=f":mag: Scanning {', '.join(regions)}… the report will appear here.", response_type="ephemeral")


def ack_status(ack: Any) -> None:
    ack()


@contextmanager
def failures_shown(what: str, *, respond: Any = None, client: WebClient | None = None,
                   click: Click | None = None, runtime: Runtime | None = None) -> Iterator[None]:
    """Catch, log, count and show a lazy listener's failure, and note it on the decision: Bolt would swallow it."""
    try:
        yield
    except Exception as error:
        log.exception("%s failed", what)
        metrics.add_metric(name="LazyFailures", unit=MetricUnit.Count, value=1)
        # The core's own errors are written for people; anything else may name internals, so only its type.
        detail = f": {blocks.clip(str(error), 300)}" if isinstance(error, ReaperError | BotError) else ""
        if runtime is not None and click is not None and click.decision_id:
            try:
                from reaper import decisions

                decisions.note_failure(runtime.services, click.decision_id,
                                       f"{what} failed ({type(error).__name__}{detail})")
            except Exception:
                log.exception("could not record the failure of %s on decision %s", what, click.decision_id)
        text = f":x: {what} failed ({type(error).__name__}{detail}). Details are in the logs."
        shown: list[Callable[[], Any]] = []
        if client is not None and click is not None:
            if click.decision_id in blocks.decision_ids(click.blocks):
                shown.append(lambda: update_rows(client, click, {click.decision_id: text}))
            shown.append(lambda: _tell(client, click, text))
        elif respond is not None:
            shown.append(lambda: respond(text=text, response_type="ephemeral", replace_original=False))
        for show in shown:  # each on its own: a message that cannot be updated still gets the ephemeral
            try:
                show()
            except Exception:
                log.exception("could not show the failure of %s", what)


def run_scan(command: dict[str, Any], client: WebClient, context: Any, respond: Any) -> None:
    runtime: Runtime = context["runtime"]
    with failures_shown("The scan", respond=respond):
        regions, error = scan_regions(runtime, parse_command(command.get("text"))[1])
        if error:
            return
        from bot.report import NotInChannel, post_report
        from reaper.scan import find_idle

        report = find_idle(runtime.services, regions)
        channel = str(command["channel_id"])
        try:
            post_report(client, runtime.services, channel, report, interval=runtime.config.post_interval)
        except NotInChannel:
            log.info("scan asked for in %s, where the bot is not a member", channel)
            respond(text=":wave: I cannot post the report here: I am not a member of this channel. "
                         "Type `/invite @reaper`, then `/reaper scan` again.",
                    response_type="ephemeral", replace_original=False)
            return
        log.info("report posted: %d idle of %d", len(report.proposed), len(report.findings))


def show_status(respond: Any, context: Any) -> None:
    runtime: Runtime = context["runtime"]
    with failures_shown("The status look-up", respond=respond):
        from reaper import decisions

        message = blocks.status_message(decisions.recent(runtime.services, 10))
        respond(text=message.text, blocks=message.blocks, response_type="ephemeral", replace_original=False)


def show_savings(respond: Any, context: Any) -> None:
    runtime: Runtime = context["runtime"]
    with failures_shown("The savings look-up", respond=respond):
        from reaper import savings

        message = blocks.savings_message(savings.summary(runtime.services))
        respond(text=message.text, blocks=message.blocks, response_type="ephemeral", replace_original=False)


# -- the buttons ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Click:
    """What a button click carries; only the decision id is used to find the instance.

    `blocks` are the clicked message's as Slack sent them: empty when Slack left `message`
    out of the payload (it does for a click on an ephemeral message). chat.update replaces
    a message's blocks whole, so a click without them never updates the message.
    """

    user: str
    decision_id: str
    channel: str
    ts: str
    blocks: list[dict[str, Any]]
    text: str

    @property
    def has_message(self) -> bool:
        return bool(self.blocks)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Click:
        action = (body.get("actions") or [{}])[0]
        container = body.get("container") or {}
        message = body.get("message") or {}
        return cls(
            user=str((body.get("user") or {}).get("id", "")),
            decision_id=str(action.get("value") or ""),
            channel=str(container.get("channel_id") or (body.get("channel") or {}).get("id") or ""),
            ts=str(container.get("message_ts") or message.get("ts") or ""),
            blocks=list(message.get("blocks") or []),
            text=str(message.get("text") or "Idle EC2 instances"),
        )


def ack_click(ack: Any) -> None:
    ack()


def _tell(client: WebClient, click: Click, text: str) -> None:
    client.chat_postEphemeral(channel=click.channel, user=click.user, text=text)


def stop_clicked(body: dict[str, Any], client: WebClient, context: Any) -> None:
    runtime: Runtime = context["runtime"]
    click = Click.from_body(body)
    with failures_shown("Stopping the instance", client=client, click=click, runtime=runtime):
        from reaper import decisions

        def claimed(decision: Decision) -> None:
            update_rows(client, click, {decision.id: blocks.stopping_text(click.user,
                                                                          dry_run=runtime.settings.dry_run)})

        result = decisions.stop(runtime.services, click.decision_id, click.user,
                                channel=click.channel, message_ts=click.ts, claimed=claimed,
                                clicker=owners.clicker(runtime.approvers, client, click.user))
        answer(runtime, client, click, result)


def open_keep_dialog(ack: Any, body: dict[str, Any], client: WebClient, context: Any) -> None:
    """The Keep button: open the Keep dialog with the click's trigger_id, then ack. Slack calls only:
    whether the clicker may keep is decided on submission, by the core (an owner may, unlike others)."""
    runtime: Runtime = context["runtime"]
    click = Click.from_body(body)
    view = keep_dialog.view(decision_id=click.decision_id, channel=click.channel, ts=click.ts,
                            had_message=click.has_message, default_days=runtime.settings.keep_days,
                            what=blocks.row_title(click.blocks, click.decision_id))
    try:
        client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)
    except Exception as error:
        log.warning("the Keep dialog could not be opened: %s", error)
        try:
            _tell(client, click, ":warning: I could not open the Keep dialog (Slack allows 3 seconds for it). "
                                 "Nothing was kept: click Keep again.")
        except Exception:
            log.exception("could not tell %s that the Keep dialog did not open", click.user)
    ack()


def ack_keep_dialog(ack: Any, body: dict[str, Any], context: Any) -> None:
    """Check the form in the dialog itself (a day in the past, no day picked); the Keep runs lazily."""
    runtime: Runtime = context["runtime"]
    errors = keep_dialog.form_errors(body, runtime.services.clock())
    if errors:
        ack(response_action="errors", errors=errors)
        return
    ack()


def keep_submitted(body: dict[str, Any], client: WebClient, context: Any) -> None:
    from bot.report import read_message

    runtime: Runtime = context["runtime"]
    keep = keep_dialog.request(body)
    message = None
    if keep.had_message:  # the submission does not carry the message: read it back to update its row
        try:
            message = read_message(client, keep.channel, keep.ts)
        except Exception:
            log.exception("report message %s/%s could not be read; the Keep is told privately", keep.channel, keep.ts)
    click = Click(user=keep.user, decision_id=keep.decision_id, channel=keep.channel, ts=keep.ts,
                  blocks=list((message or {}).get("blocks") or []),
                  text=str((message or {}).get("text") or "Idle EC2 instances"))
    with failures_shown("Keeping the instance", client=client, click=click, runtime=runtime):
        from reaper import decisions

        result = decisions.keep(runtime.services, keep.decision_id, keep.user, days=keep.days, until=keep.until,
                                reason=keep.reason, channel=keep.channel, message_ts=keep.ts,
                                clicker=owners.clicker(runtime.approvers, client, keep.user))
        answer(runtime, client, click, result)


def answer(runtime: Runtime, client: WebClient, click: Click, result: Result) -> None:
    """Show the clicker what their click came to: privately when refused or failed, on the message's rows always."""
    log.info("click by %s on %s: %s", click.user, click.decision_id, result.outcome.value)
    private = blocks.reply_text(result)
    if result.outcome is Outcome.SUPERSEDED and result.decision is not None:
        link = newer_link(runtime, client, result.decision)
        private = f"{private} <{link}|Open the newer report>." if link else private
    if private is None and not click.has_message and result.decision is not None:
        # The row's status would have said it all, but there is no message to show it on.
        shown = blocks.status_text(result.decision) or blocks.escape(result.message)
        private = f"{shown}\n_{NO_MESSAGE}_"
    if private is not None:
        _tell(client, click, private)
    if not result.audit_published:
        log.warning("decision %s: audit record not yet in S3", click.decision_id)
    if result.outcome is not Outcome.NOT_FOUND:
        refresh_message(runtime, client, click)


def refresh_message(runtime: Runtime, client: WebClient, click: Click) -> None:
    """Re-render every decided row of the message from the store (the source of truth).

    Rendering all rows, not only the clicked one, heals an update lost to a concurrent click
    on another row of the same message.
    """
    if not click.has_message:
        return
    from reaper import decisions

    statuses: dict[str, str] = {}
    for decision_id, decision in decisions.rows(runtime.services, blocks.decision_ids(click.blocks)).items():
        link = newer_link(runtime, client, decision) if decision.superseded_by else None
        text = blocks.status_text(decision, newer_link=link)
        if text is not None:
            statuses[decision_id] = text
    if statuses:
        update_rows(client, click, statuses)


def newer_link(runtime: Runtime, client: WebClient, decision: Decision) -> str | None:
    """The permalink of the message whose row superseded this one (None: not known)."""
    from bot.report import permalink
    from reaper import decisions

    newer = decisions.rows(runtime.services, [decision.superseded_by] if decision.superseded_by else [])
    row = newer.get(decision.superseded_by or "")
    if row is None or not row.channel or not row.message_ts:
        return None
    return permalink(client, row.channel, row.message_ts)


def update_rows(client: WebClient, click: Click, statuses: dict[str, str]) -> None:
    """Replace the listed rows' buttons with their statuses; nothing when the click came without
    the message's blocks (an update with blocks=[] would erase the whole report)."""
    if not click.has_message:
        log.info("click on %s came without its message; the message is left as it is", click.decision_id)
        return
    client.chat_update(
        channel=click.channel,
        ts=click.ts,
        text=click.text,
        blocks=blocks.with_statuses(click.blocks, statuses),
    )


# -- the App Home tab ------------------------------------------------------------------------


def ack_event(ack: Any) -> None:
    ack()


def publish_home(event: dict[str, Any], client: WebClient, context: Any) -> None:
    """views.publish the opener's Home tab: the policy, open rows, their instances, recent decisions.

    Slack sends app_home_opened for the Messages tab too; only the Home tab is published. The
    inventory read (the user's own instances) is AWS work, hence a lazy listener.
    """
    runtime: Runtime = context["runtime"]
    user = str(event.get("user") or "")
    if event.get("tab", "home") != "home" or not user:
        return
    with failures_shown("Publishing the App Home"):
        from bot.home import home_view
        from bot.owners import email_of
        from bot.report import permalink
        from reaper.home import home
        from reaper.owners import Clicker

        not_approver = runtime.approvers.check(client, user)
        shown = home(runtime.services, Clicker(user, not_approver, email_of(client, user)))
        approver = not_approver is None
        messages: dict[tuple[str, str], str] = {}
        links: dict[str, str] = {}
        for row in shown.open_rows:
            if row.channel and row.message_ts:
                where = (row.channel, row.message_ts)
                if where not in messages:
                    messages[where] = permalink(client, *where)
                links[row.id] = messages[where]
        client.views_publish(user_id=user, view=home_view(shown, approver=approver, links=links))


# -- the scheduled report and repair sweep --------------------------------------------------


def scheduled_report(runtime: Runtime, client: WebClient) -> dict[str, Any]:
    """Scan every configured region and post the report to REAPER_CHANNEL."""
    channel = runtime.config.channel
    if not channel:
        raise BotConfigError("REAPER_CHANNEL is not set: the scheduled report has nowhere to go")
    from bot.report import post_report
    from reaper import fanout
    from reaper.scan import find_idle

    try:
        # Fan-out (issue 15): too many shards for one invocation go out one message each; the
        # report is posted when the last is in (bot.fanout), or at the deadline.
        shards = fanout.plan(runtime.services)
        if shards is not None:
            run = fanout.start(runtime.services, shards, channel)
            return {"ok": True, "idle": 0, "scanned": 0, "messages": [], "errors": {}, "fanned_out": len(shards),
                    "run": run.id}
        report = find_idle(runtime.services)
    except Exception as error:
        # No report is coming today: the channel hears it, not only the logs and the metric.
        report_failure_shown(client, channel, error)
        raise
    posted = post_report(client, runtime.services, channel, report, interval=runtime.config.post_interval,
                         notify_owners=runtime.config.notify_owners)
    return {
        "ok": True,
        "idle": len(report.proposed),
        "scanned": len(report.findings),
        "messages": [p.ts for p in posted],
        "errors": dict(report.errors),
    }


def report_failure_shown(client: WebClient, channel: str, error: Exception) -> None:
    """Post why the scheduled report could not be made; a failure to post is logged, never raised."""
    if isinstance(error, AwsUnavailable):
        what = f"no region could be scanned ({error})"
    elif isinstance(error, ReaperError | BotError):  # written for people
        what = f"the scan failed: {error}"
    else:  # may name internals: only its type
        what = f"the scan failed ({type(error).__name__}; details are in the logs)"
    message = blocks.report_failed(what)
    try:
        client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks)
    except Exception:
        log.exception("could not tell %s that the report failed", channel)


def scheduled_reconcile(runtime: Runtime, client: WebClient) -> dict[str, Any]:
    """Run the core's repair sweep, then show its changes on the report messages.

    Settled stops get their outcome and expired rows lose their buttons. Slack has no
    partial update, so each message is read back (conversations.history, or .replies for
    a thread reply) and updated whole. A message that cannot be read is logged and left:
    its buttons are refused on click anyway, since the record is no longer pending.
    """
    from bot.report import show_statuses
    from reaper.sweep import reconcile

    report = reconcile(runtime.services)
    by_message: dict[tuple[str, str], dict[str, str]] = {}
    for decision in [*report.finished, *report.expired]:
        text = blocks.status_text(decision)
        if decision.channel and decision.message_ts and text:
            by_message.setdefault((decision.channel, decision.message_ts), {})[decision.id] = text
    updated = show_statuses(client, by_message, after="the sweep")
    return {
        "ok": not report.errors,
        "finished": len(report.finished),
        "expired": len(report.expired),
        "auto_stopped": len(report.auto_stopped),  # grace-period stops (issue 15, part 4)
        "published": report.published,
        "unpublished": report.unpublished,
        "messages_updated": updated,
        "errors": report.errors,
    }
