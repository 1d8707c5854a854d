"""Supervisor pages: access, dashboard, breach review, repeat report, CSV exports and charts."""

from __future__ import annotations

import csv
import io
import re

import pytest
import sqlalchemy as sa

from tests.services.test_reports import NOW, build_world
from ticketing.models import BreachReview, TicketEvent
from ticketing.web import supervisor
from ticketing.web.charts import Series, bar_chart, count_scale, line_chart, nice_ceiling

PERIOD = {"start": "2026-02-23", "end": "2026-03-01"}
PAGES = ["/supervisor/", "/supervisor/breaches", "/supervisor/repeats",
         "/supervisor/export/hit-rates.csv"]


@pytest.fixture
def world(db_session):
    return build_world(db_session)


@pytest.fixture
def as_supervisor(client, make_user, login, monkeypatch):
    """A logged-in supervisor whose pages run at the data set's instant."""
    login(make_user("supervisor"))
    monkeypatch.setattr(supervisor, "utcnow", lambda: NOW)
    return client


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


# --- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visitors_are_sent_to_the_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_agents_are_refused(client, make_user, login):
    login(make_user("agent"))
    for url in PAGES:
        assert client.get(url).status_code == 403, url


def test_agents_cannot_review_breaches(client, make_user, login, world):
    login(make_user("agent"))
    clock = world.clocks["T6.fr"]
    response = client.post(f"/supervisor/breaches/{clock.id}/review",
                           data={"action": "excuse", "reason": "niet mijn schuld"})
    assert response.status_code == 403


@pytest.mark.parametrize("role", ["supervisor", "admin"])
def test_supervisors_and_admins_see_the_pages_and_the_nav(client, make_user, login, role):
    login(make_user(role))
    for url in PAGES[:3]:
        response = client.get(url)
        assert response.status_code == 200, url
    page = response.get_data(as_text=True)
    for endpoint, _label in supervisor.NAV:
        assert endpoint.startswith(("supervisor.", "rules.", "canned."))
    assert 'href="/supervisor/breaches"' in page
    assert 'href="/supervisor/canned/"' in page
    assert 'href="/supervisor/rules/"' in page
    assert 'href="/supervisor/repeats"' in page


# --- dashboard ----------------------------------------------------------------------------------


def test_dashboard_shows_the_hand_computed_figures(as_supervisor, world):
    page = as_supervisor.get("/supervisor/", query_string=PERIOD).get_data(as_text=True)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "First response 3 2 1 60.0% 75.0%" in text
    assert "Resolution 4 10 h 56 m 23 h 46 m" in text  # 39400 s median, 85560 s p90
    assert "Under 1 day 2 1 to 3 days 2 3 to 7 days 1 Over 7 days 1" in text
    assert "Next response 0 1 Resolution 1 0" in text  # at risk and overdue now
    assert "First-contact resolution 25.0%" in text
    assert "Repeat contacts per 100 contacts 30" in text
    assert "Notify on breach 3 3" in text
    assert page.count('role="img"') == 4  # daily and weekly hit rate and volume charts
    assert page.count("<caption>") >= 4
    assert '<th scope="row">2026-02-23</th>' in page
    assert 'href="/supervisor/export/trend-day.csv?start=2026-02-23&amp;end=2026-03-01"' in page


def test_dashboard_filters_narrow_the_figures(as_supervisor, world):
    query = {**PERIOD, "team": str(world.team_a)}
    page = as_supervisor.get("/supervisor/", query_string=query).get_data(as_text=True)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "First response 2 0 0 100.0% 100.0%" in text
    assert f'<option selected value="{world.team_a}">' in page


def test_dashboard_defaults_to_the_last_seven_days(as_supervisor):
    response = as_supervisor.get("/supervisor/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'name="start" value="2026-02-24"' in page
    assert 'name="end" value="2026-03-02"' in page
    assert "days in Europe/Amsterdam" in page


def test_nonsense_filters_fall_back_with_a_message(as_supervisor):
    response = as_supervisor.get("/supervisor/", query_string={
        "start": "yesterday", "team": "x", "priority": "<script>", "end": "2026-03-01",
    })
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Some filters were not understood" in page
    assert "<script>" not in page


def test_swapped_and_overlong_periods_are_corrected(as_supervisor):
    page = as_supervisor.get("/supervisor/", query_string={
        "start": "2026-03-01", "end": "2026-02-01"}).get_data(as_text=True)
    assert 'name="start" value="2026-02-01"' in page
    assert "dates were swapped" in page
    page = as_supervisor.get("/supervisor/", query_string={
        "start": "2020-01-01", "end": "2026-03-01"}).get_data(as_text=True)
    assert 'name="start" value="2025-03-01"' in page


# --- breach review ------------------------------------------------------------------------------


def test_breach_page_explains_each_breach_and_links_the_ticket(as_supervisor, world):
    page = as_supervisor.get("/supervisor/breaches", query_string=PERIOD).get_data(as_text=True)
    t2 = world.tickets["T2"]
    assert f'href="/tickets/{t2.reference}"' in page
    assert "stopped Wed 25 Feb 09:45 by an agent reply" in page
    assert "Storing bij de provider" in page
    assert page.count('name="csrf_token"') >= 5
    assert page.count('value="excuse"') == 5


def test_breach_page_keyset_pagination(as_supervisor, world, monkeypatch):
    monkeypatch.setattr(supervisor, "PAGE_SIZE", 2)
    first = as_supervisor.get("/supervisor/breaches", query_string=PERIOD).get_data(as_text=True)
    ids = re.findall(r'<article class="panel breach" id="breach-(\d+)"', first)
    assert ids == [str(world.clocks["T6.fr"].id), str(world.clocks["T3.nr1"].id)]
    older = re.search(r'href="([^"]+after=[^"]+)">Older', first).group(1).replace("&amp;", "&")
    second = as_supervisor.get(older).get_data(as_text=True)
    assert re.findall(r'id="breach-(\d+)"', second)[0] == str(world.clocks["T4.fr"].id)
    assert "Newest" in second


def test_breach_page_filters_excused_separately(as_supervisor, world):
    page = as_supervisor.get("/supervisor/breaches",
                             query_string={**PERIOD, "review": "excused"}).get_data(as_text=True)
    assert re.findall(r'<article class="panel breach" id="breach-(\d+)"', page) == [
        str(world.clocks["T4.fr"].id)
    ]


def test_excusing_a_breach_keeps_it_and_logs_the_reason(as_supervisor, db_session, world):
    clock = world.clocks["T6.fr"]
    back = "/supervisor/breaches?start=2026-02-23&end=2026-03-01"
    response = as_supervisor.post(f"/supervisor/breaches/{clock.id}/review", data={
        "action": "excuse", "reason": "Storm: geen bezorging mogelijk", "next": back,
    })
    assert response.status_code == 302
    assert response.headers["Location"] == f"{back}#breach-{clock.id}"
    review = db_session.scalar(sa.select(BreachReview).where(BreachReview.clock_id == clock.id))
    assert (review.decision, review.reason) == ("excused", "Storm: geen bezorging mogelijk")
    event = db_session.scalar(sa.select(TicketEvent).where(
        TicketEvent.type == "breach.reviewed", TicketEvent.ticket_id == clock.ticket_id))
    assert event.data["decision"] == "excused"
    page = as_supervisor.get(back).get_data(as_text=True)
    assert "Review saved." in page
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "First response 2 0 0 0 2" in text  # both first-response breaches now excused


def test_review_without_a_reason_is_refused(as_supervisor, db_session, world):
    clock = world.clocks["T6.fr"]
    response = as_supervisor.post(f"/supervisor/breaches/{clock.id}/review",
                                  data={"action": "excuse", "reason": ""},
                                  follow_redirects=True)
    assert "needs a reason" in response.get_data(as_text=True)
    assert db_session.scalar(
        sa.select(BreachReview).where(BreachReview.clock_id == clock.id)) is None


def test_review_of_an_unknown_clock_is_404(as_supervisor):
    assert as_supervisor.post("/supervisor/breaches/999999/review",
                              data={"action": "acknowledge"}).status_code == 404


def test_review_never_redirects_off_site(as_supervisor, world):
    clock = world.clocks["T6.fr"]
    for target in ("https://evil.example/supervisor/breaches", "//evil.example/x", "/login"):
        response = as_supervisor.post(f"/supervisor/breaches/{clock.id}/review",
                                      data={"action": "acknowledge", "next": target})
        assert response.headers["Location"].startswith("/supervisor/breaches#breach-")


def test_review_needs_the_csrf_token(app, as_supervisor, world, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    clock = world.clocks["T6.fr"]
    response = as_supervisor.post(f"/supervisor/breaches/{clock.id}/review",
                                  data={"action": "acknowledge"})
    assert response.status_code == 400


# --- repeat contacts ----------------------------------------------------------------------------


def test_repeat_report_lists_customers_topics_and_cue_words(as_supervisor, world):
    page = as_supervisor.get("/supervisor/repeats", query_string=PERIOD).get_data(as_text=True)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "Anna 2 2 2" in text
    assert "factuur klopt niet subject 3 2 2" in text
    assert "alweer again 2 2" in text
    assert f'href="/tickets/{world.tickets["T2"].reference}"' in page


# --- CSV exports --------------------------------------------------------------------------------


def test_every_table_exports_as_streamed_csv(as_supervisor, world):
    for table in sorted(supervisor.EXPORTS):
        response = as_supervisor.get(f"/supervisor/export/{table}.csv", query_string=PERIOD)
        assert response.status_code == 200, table
        assert response.is_streamed
        assert response.mimetype == "text/csv"
        assert response.headers["Content-Disposition"] == (
            f'attachment; filename="{table}_2026-02-23_2026-03-01.csv"'
        )
        assert len(_csv(response)) >= 2, table


def test_hit_rate_export_has_the_exact_figures(as_supervisor, world):
    rows = _csv(as_supervisor.get("/supervisor/export/hit-rates.csv", query_string=PERIOD))
    assert rows == [
        ["metric", "met", "breached", "excused", "hit_rate", "adjusted_hit_rate"],
        ["first_response", "3", "2", "1", "0.6", "0.75"],
        ["next_response", "1", "1", "0", "0.5", "0.5"],
        ["resolution", "3", "1", "0", "0.75", "0.75"],
    ]


def test_breach_export_neutralises_formulas(as_supervisor, db_session, world):
    world.tickets["T6"].subject = "=HYPERLINK(\"http://evil.example\",\"klik\")"
    db_session.flush()
    rows = _csv(as_supervisor.get("/supervisor/export/breaches.csv", query_string=PERIOD))
    header, body = rows[0], rows[1:]
    assert header == supervisor._BREACH_COLUMNS
    assert len(body) == 5
    t6 = next(row for row in body if row[1] == world.tickets["T6"].reference)
    assert t6[2].startswith("'=HYPERLINK")
    assert t6[14] == "unreviewed"
    assert "breached Sat 28 Feb 14:00" in t6[-1]


def test_unknown_export_is_404(as_supervisor):
    assert as_supervisor.get("/supervisor/export/passwords.csv").status_code == 404


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"), ("+31 6", "'+31 6"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"), ("gewoon", "gewoon"), (-2, -2), (None, ""), (0.5, 0.5),
    ],
)
def test_csv_cell_protects_against_formula_injection(value, cell):
    assert supervisor.csv_cell(value) == cell


def test_csv_stream_yields_chunks():
    rows = ([n, "x" * 100] for n in range(1000))
    chunks = list(supervisor.csv_stream(["n", "text"], rows, flush_bytes=10_000))
    assert len(chunks) > 5
    assert "".join(chunks).count("\r\n") == 1001


def test_safe_filename():
    assert supervisor.safe_filename("breaches", "2026-02-23") == "breaches_2026-02-23.csv"
    assert supervisor.safe_filename('../"x"\r\n', "") == "x.csv"
    assert supervisor.safe_filename("", "") == "export.csv"


# --- charts -------------------------------------------------------------------------------------


def test_line_chart_escapes_text_and_leaves_gaps():
    chart = line_chart(
        "c1", title='Hit <rate> & "more"', description="d", categories=["a", "b", "c", "d"],
        series=[Series("<script>alert(1)</script>", [0.5, None, 0.75, 1.0])],
        formatter=lambda v: "–" if v is None else f"{v:.0%}", row_header="Day", y_max=1.0,
    )
    svg = str(chart.svg)
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert 'Hit &lt;rate&gt; &amp; "more"' in svg
    assert svg.count("<polyline") == 1  # the gap splits the line; a single point has no line
    assert svg.count("<circle") == 3 + 1  # three points and the legend marker
    assert chart.table.rows == [("a", ["50%"]), ("b", ["–"]), ("c", ["75%"]), ("d", ["100%"])]
    assert 'aria-labelledby="c1-title c1-desc"' in svg


def test_bar_chart_has_one_bar_per_nonzero_value():
    chart = bar_chart(
        "c2", title="Volume", description="d", categories=["w1", "w2"],
        series=[Series("Opened", [3, 0]), Series("Breaches", [1, 2])],
        formatter=str, row_header="Week",
    )
    svg = str(chart.svg)
    assert svg.count("<rect") == 3 + 2  # three bars and two legend swatches
    assert "<title>Breaches, w2: 2</title>" in svg
    assert chart.table.columns == ["Opened", "Breaches"]


@pytest.mark.parametrize(("value", "top"), [(0, 1), (1, 1), (3, 5), (7, 10), (12, 20), (51, 100)])
def test_nice_ceiling(value, top):
    assert nice_ceiling(value) == top


@pytest.mark.parametrize(("largest", "scale"), [(0, (1, 1)), (2, (2, 1)), (7, (8, 2)),
                                                 (9, (10, 5)), (130, (150, 50))])
def test_count_scale_uses_whole_steps(largest, scale):
    assert count_scale(largest) == scale
