

# -- with the grace-period stop (reaper.grace) ------------------------------------------------


def report_with_grace(world: FakeWorld) -> list[Decision]:
    """A report as bot.report posts it: judged, counted for the grace period, recorded, older rows closed."""
    from reaper import grace

    scan = find_idle(world.services)
    judged = changes.what_changed(world.services, scan)
    proposed = judged.order(scan.proposed)
    rows = judged.carry(decisions.propose(world.services, proposed, channel="C1",
                                          message_ts=str(world.clock().timestamp())), proposed)
    plan = grace.schedule(world.services, list(zip(proposed, rows, strict=True)))
    decisions.record_rows(world.services, plan.rows)
    changes.supersede(world.services, judged, plan.rows)
    return plan.rows


def test_superseded_rows_count_as_unanswered_for_the_grace_period(world: FakeWorld) -> None:
    world.env["REAPER_AUTO_STOP_AFTER"] = "3"
    world.launch("i-a", cpu=(0.5,) * 35)
    for _ in range(2):
        report_with_grace(world)
        world.clock.advance(days=1)

    [third] = report_with_grace(world)

    assert third.unanswered == 3 and third.auto_stop_at is not None
    states = sorted(d.state.value for d in world.store.records.values())
    assert states == ["pending", "superseded", "superseded"]


def test_an_announced_grace_period_row_stays_live_for_the_sweep(world: FakeWorld) -> None:
    world.env["REAPER_AUTO_STOP_AFTER"] = "1"
    world.launch("i-a", cpu=(0.5,) * 35)
    [announced] = report_with_grace(world)
    assert announced.auto_stop_at is not None
    world.clock.advance(hours=12)

    report_with_grace(world)

    assert world.store.records[announced.id].state is DecisionState.PENDING  # not superseded
