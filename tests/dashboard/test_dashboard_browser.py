"""The dashboard in a real headless browser (Debian's chromium via Playwright), over real ledger rows."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import SECRET, Proc, gateway_config, start_gateway, start_sim
from ledger.ledger_helpers import Served, ledger_yaml, mixed_load, wait_rows

CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).exists()), None
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ADMIN = "admin-key-for-tests-9f3c"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SIM = "models:\n  tiny-up: {answer_words: 12}\n  big-up: {answer_words: 30}\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, list[Served], Path]]:
    tmp = tmp_path_factory.mktemp("dash")
    data = tmp / "data"
    extra = ledger_yaml(None, str(data)) + "dashboard:\n  admin_key: ${ADMIN_KEY}\n"
    cfg_text = gateway_config("SIMURL", extra)
    sim = start_sim(tmp, SIM)
    gw = start_gateway(
        tmp, cfg_text.replace("SIMURL", sim.url), env={"SIM_API_KEY": SECRET, "ADMIN_KEY": ADMIN}
    )
    served = asyncio.run(mixed_load(gw.url, 48))
    wait_rows(f"sqlite:///{data / 'ledger.db'}", len(served))
    config = tmp / "report.yaml"
    config.write_text(cfg_text.replace("SIMURL", sim.url))
    yield gw, served, config
    gw.stop()
    sim.stop()


def test_admin_key_is_required(world: tuple[Proc, list[Served], Path]) -> None:
    gw = world[0]
    assert httpx.get(gw.url + "/dashboard").status_code == 401
    assert httpx.get(gw.url + "/dashboard", headers={"Authorization": "Bearer nope"}).status_code == 401
    ok = httpx.get(gw.url + "/dashboard", headers={"Authorization": f"Bearer {ADMIN}"})
    assert ok.status_code == 200 and "switchman" in ok.text
    assert ADMIN not in ok.text


def _report(config: Path) -> dict[str, object]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "switchman.cli.main",
            "report",
            "--config",
            str(config),
            "--json",
            "--since",
            "1h",
        ],
        capture_output=True,
        text=True,
        env={"SIM_API_KEY": "x", "ADMIN_KEY": "x", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium; `make browser`)")
async def test_dashboard_renders_charts_and_table_in_chromium(world: tuple[Proc, list[Served], Path]) -> None:
    from playwright.async_api import async_playwright

    gw, served, config = world
    total = _report(config)["total"]
    assert isinstance(total, dict)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 1600})
            # sign in through the form, like a person would
            resp = await page.goto(gw.url + "/dashboard?since=1h")
            assert resp is not None and resp.status == 401
            await page.fill("input[name=key]", ADMIN)
            await page.click("button")
            await page.wait_for_selector("[data-chart=savings] svg")
            charts = await page.eval_on_selector_all("figure.chart", "els => els.map(e => e.dataset.chart)")
            assert charts == ["savings", "cost-by-model", "routing-mix", "latency", "errors"]
            lines = await page.locator("[data-chart=savings] polyline.series").count()
            assert lines == 3
            bars = await page.eval_on_selector_all(
                "[data-chart=cost-by-model] rect.bar",
                "els => els.map(e => [e.dataset.label, +e.dataset.value])",
            )
            by_model = {g["key"]: g["cost_usd"] for g in _report(config)["groups"]}  # type: ignore[index, union-attr]
            assert dict(bars) == pytest.approx(by_model)
            assert await page.locator("[data-chart=routing-mix] rect.bar").count() >= 3
            assert await page.locator("[data-chart=latency] polyline.series").count() == 3
            # the numbers on the cards are the report's numbers
            requests = await page.inner_text("[data-metric=requests] b")
            assert requests == f"{len(served):,}" == f"{total['requests']:,}"
            saved = await page.inner_text("[data-metric=savings] b")
            assert saved == f"${total['savings_usd']:.4f}"
            # the table of recent requests, with the decision explanation
            rows = page.locator("#recent tr.call")
            assert await rows.count() == len(served)
            ids = set(await page.eval_on_selector_all("#recent tr.call", "els => els.map(e => e.dataset.id)"))
            assert ids == {s.request_id for s in served}
            assert "cheapest" in (await page.inner_text("#recent")) or "→" in (
                await page.inner_text("#recent")
            )
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        finally:
            await browser.close()
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
