"""The web client in a real browser (Debian's Chromium, headless) against the real host replaying a synthetic
session: the page, the chart, the option chain with its live window, selection, tape, status badges,
reconnection and the polling fallback."""

import time

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import SESSION, Browser, Host

CANDLE_PIXELS = """
const canvas = document.querySelector('#chart canvas.chart-base');
const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
let up = 0, down = 0;
for (let i = 0; i < data.length; i += 4) {
  if (data[i] === 38 && data[i + 1] === 166 && data[i + 2] === 154) up++;
  if (data[i] === 239 && data[i + 1] === 83 && data[i + 2] === 80) down++;
}
return [up, down];
"""


def open_app(browser, host, query=""):
    browser.driver.get(host.url + "/" + query)
    browser.wait(lambda: browser.js("return document.body.dataset.ready === 'true'"), 90, "the page never became ready")


def chart_data(browser):
    return browser.js("return Object.assign({}, document.getElementById('chart').dataset)")


def connected(browser):
    return browser.js("return document.getElementById('connection').dataset.state") == "connected"


def live_cells(browser):
    return browser.js(
        "return [...document.querySelectorAll('#chain td.bid[data-live=\"true\"]')].map(td => td.dataset.ticker)"
    )


def chain_json(host, underlying="SPY", **params):
    response = requests.get(f"{host.url}/api/market/options/chain/{underlying}", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def atm_row(browser):
    return browser.driver.find_element(By.CSS_SELECTOR, "#chain tr.atm")


def test_modules_behave_in_the_browser(host, browser):
    """The pure modules (indicators, Socket.IO codec, backoff, formatting) checked in the real browser."""
    browser.driver.get(host.url + "/")
    result = browser.driver.execute_async_script(
        """
const done = arguments[arguments.length - 1];
Promise.all([import('/js/indicators.js'), import('/js/socketio.js'), import('/js/format.js')]).then(([ind, sio, fmt]) => {
  const closes = [44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03, 45.61, 46.28, 46.28];
  const bars = [{t: Date.UTC(2025, 5, 2, 14, 30), h: 11, l: 9, c: 10, v: 100},
                {t: Date.UTC(2025, 5, 2, 14, 31), h: 13, l: 11, c: 12, v: 300},
                {t: Date.UTC(2025, 5, 3, 14, 30), h: 21, l: 19, c: 20, v: 50}];
  const random = [0, 1].map(r => sio.backoffDelay(3, {base: 500, max: 10000, jitter: 0.5, random: () => r}));
  done({
    sma: ind.sma([1, 2, 3, 4, 5], 3),
    ema: ind.ema([1, 2, 3, 4, 5], 3),
    rsi: ind.rsi(closes, 14)[14],
    boll: ind.bollinger([2, 4, 4, 4, 5, 5, 7, 9], 8, 2),
    vwap: ind.vwap(bars, {anchorDaily: true}),
    packet: sio.decodeSocketPacket('2["live:quote",{"symbol":"SPY"}]'),
    ack: sio.decodeSocketPacket('312[{"ok":true}]'),
    nsp: sio.decodeSocketPacket('0/,{"sid":"abc"}'),
    event: sio.encodeEvent('live:subscribe', [{symbol: 'SPY'}], 7),
    payload: sio.decodePollingPayload('40\\x1e42["a"]'),
    backoff: random,
    capped: sio.backoffDelay(30, {base: 500, max: 10000, jitter: 0, random: () => 0.5}),
    option: fmt.describeOption('O:SPY251219C00650000'),
    underlying: fmt.optionUnderlying('O:BRK.B251219P00400500'),
    time: fmt.formatTime(Date.UTC(2025, 0, 15, 14, 30)),
    summer: fmt.formatTime(Date.UTC(2025, 6, 15, 13, 30)),
  });
}).catch(error => done({error: String(error)}));
"""
    )
    assert "error" not in result, result
    assert result["sma"] == [None, None, 2, 3, 4]
    assert result["ema"] == [None, None, 2, 3, 4]
    assert abs(result["rsi"] - 70.46) < 0.05  # Wilder's worked example
    assert abs(result["boll"]["middle"][7] - 5) < 1e-9
    assert abs(result["boll"]["upper"][7] - 9) < 1e-9 and abs(result["boll"]["lower"][7] - 1) < 1e-9
    # Session-anchored VWAP: (10*100 + 12*300) / 400 on the first day, reset on the next.
    assert abs(result["vwap"][1] - 11.5) < 1e-9 and abs(result["vwap"][2] - 20) < 1e-9
    assert result["packet"] == {"type": "2", "id": None, "data": ["live:quote", {"symbol": "SPY"}]}
    assert result["ack"] == {"type": "3", "id": 12, "data": [{"ok": True}]}
    assert result["nsp"]["data"] == {"sid": "abc"}
    assert result["event"] == '27["live:subscribe",{"symbol":"SPY"}]'
    assert result["payload"] == ["40", '42["a"]']
    assert result["backoff"] == [2000, 6000]
    assert result["capped"] == 10000
    assert result["option"] == "SPY Dec 19 '25 650 C"
    assert result["underlying"] == "BRK.B"
    assert result["time"] == "09:30" and result["summer"] == "09:30"  # EST and EDT both show New York time


def test_page_loads_and_chart_draws_bars(host, browser):
    open_app(browser, host)
    browser.wait(lambda: int(chart_data(browser).get("bars") or 0) > 50, 60, "no daily bars")
    browser.wait(lambda: connected(browser), 30, "socket never connected")
    assert "websocket" in browser.driver.find_element(By.ID, "connection").text.lower()
    up, down = browser.js(CANDLE_PIXELS)
    assert up > 100 and down > 100, f"candles not drawn: {up} up and {down} down pixels"
    aggs = requests.get(f"{host.url}/api/market/aggs", params={"ticker": "SPY"}, timeout=30).json()
    data = chart_data(browser)
    assert int(data["bars"]) == aggs["count"]
    assert float(data["lastClose"]) == aggs["bars"][-1]["c"]
    # Crosshair readout follows the pointer.
    chart = browser.driver.find_element(By.ID, "chart")
    browser.driver.execute_script(
        "arguments[0].dispatchEvent(new PointerEvent('pointermove', {clientX: 400, clientY: 200, bubbles: true}))", chart
    )
    browser.wait(lambda: " O " in browser.driver.find_element(By.CSS_SELECTOR, ".chart-readout").text, 5)
    browser.screenshot("trading-screen")
    assert browser.console_errors() == []


def test_chain_shows_strikes_around_the_money(host, browser):
    open_app(browser, host)
    browser.wait(lambda: int(browser.js("return document.getElementById('chain').dataset.strikes || 0")) > 0, 60)
    reference = chain_json(host, strikes=10)
    expiration = reference["expirations"][0]
    shown = [float(row.get_attribute("data-strike")) for row in browser.driver.find_elements(By.CSS_SELECTOR, "#chain tbody tr")]
    assert shown == [row["strike"] for row in expiration["strikes"]]
    assert len(shown) <= 21
    price = reference["underlyingPrice"]
    atm = float(atm_row(browser).get_attribute("data-strike"))
    assert abs(atm - price) == min(abs(strike - price) for strike in shown)
    below = [s for s in shown if s < price]
    above = [s for s in shown if s > price]
    assert below and above, "the window is not centred on the money"
    # Calls below the money and puts above it are shaded in the money.
    row = browser.driver.find_element(By.CSS_SELECTOR, f'#chain tr[data-strike="{below[0]:g}"]')
    call_bid = row.find_element(By.CSS_SELECTOR, f'td.bid[data-ticker^="O:SPY"][data-ticker*="C"]')
    assert "itm" in call_bid.get_attribute("class")
    tabs = browser.driver.find_elements(By.CSS_SELECTOR, "#expirations button")
    assert len(tabs) >= 2 and tabs[0].get_attribute("aria-selected") == "true"


def test_selecting_a_contract_hydrates_quote_tape_and_chart(host, browser):
    open_app(browser, host)
    browser.wait(lambda: len(browser.driver.find_elements(By.CSS_SELECTOR, "#chain tr.atm")) == 1, 60)
    ticker = atm_row(browser).get_attribute("data-call")
    atm_row(browser).find_element(By.CSS_SELECTOR, "td.bid").click()
    browser.wait(lambda: browser.js("return document.getElementById('quote-card').dataset.contract") == ticker, 30)
    browser.wait(lambda: browser.js("return document.getElementById('quote-bid')?.textContent") not in (None, "—"), 30)
    browser.wait(lambda: chart_data(browser).get("symbol") == ticker and int(chart_data(browser).get("bars") or 0) > 0, 60,
                 "the chart did not switch to the contract's own daily bars")
    selection = requests.get(f"{host.url}/api/market/options/selection", timeout=10).json()
    assert selection["contract"] == ticker and selection["underlying"] == "SPY"
    browser.wait(lambda: int(browser.js("return document.getElementById('tape').dataset.trades || 0")) > 0, 90,
                 "no trades reached the tape")
    browser.wait(lambda: browser.js("return document.getElementById('quote-card').dataset.streaming") == "true", 60)
    # Intraday: the option's chart shows the underlying's candles, streamed by the chart hub.
    browser.driver.find_element(By.CSS_SELECTOR, '#timeframes button[data-tf="1m"]').click()
    browser.wait(lambda: chart_data(browser).get("timeframe") == "1m" and int(chart_data(browser).get("bars") or 0) > 0, 60)
    assert chart_data(browser)["resultTicker"] == "SPY"
    browser.screenshot("contract-selected")


def test_live_cells_change_as_the_replay_streams(host, browser):
    open_app(browser, host)
    browser.wait(lambda: len(live_cells(browser)) > 0, 60, "no live cells")
    read = "return Object.fromEntries([...document.querySelectorAll('#chain td.bid[data-live=\"true\"], #chain td.ask.live')].map(td => [td.dataset.ticker + td.dataset.field, td.textContent]))"
    first = browser.js(read)
    browser.wait(lambda: any(first.get(key) not in (None, value) for key, value in browser.js(read).items()), 60,
                 "live bid/ask never changed")


def test_reload_restores_the_selection(host, browser):
    open_app(browser, host)
    browser.wait(lambda: len(browser.driver.find_elements(By.CSS_SELECTOR, "#chain tr.atm")) == 1, 60)
    row = atm_row(browser)
    ticker = row.get_attribute("data-put")
    row.find_elements(By.CSS_SELECTOR, "td.bid")[-1].click()
    browser.wait(lambda: browser.js("return document.getElementById('quote-card').dataset.contract") == ticker, 30)
    browser.wait(lambda: requests.get(f"{host.url}/api/market/options/selection", timeout=10).json().get("contract") == ticker, 10)
    browser.driver.refresh()
    browser.wait(lambda: browser.js("return document.body.dataset.ready === 'true'"), 60)
    browser.wait(lambda: browser.js("return document.getElementById('quote-card').dataset.contract") == ticker, 30)
    selected = browser.js("return [...new Set([...document.querySelectorAll('#chain td.selected')].map(td => td.dataset.ticker))]")
    assert selected == [ticker]
    assert chart_data(browser).get("symbol") == ticker


def test_symbols_leaving_the_window_stop_being_live(host, browser):
    open_app(browser, host)
    browser.wait(lambda: len(live_cells(browser)) >= 6, 90, "the live window never filled")
    Select(browser.driver.find_element(By.ID, "live-window")).select_by_value("1")
    atm = float(atm_row(browser).get_attribute("data-strike"))
    strikes = [float(r.get_attribute("data-strike")) for r in browser.driver.find_elements(By.CSS_SELECTOR, "#chain tbody tr")]
    index = strikes.index(atm)
    window = set(strikes[max(0, index - 1): index + 2])
    browser.wait(lambda: 0 < len(live_cells(browser)) <= 6, 30)
    time.sleep(2)  # quotes in flight for unsubscribed symbols must not bring them back
    for ticker in live_cells(browser):
        strike = int(ticker[-8:]) / 1000
        assert strike in window, f"{ticker} is outside the live window but still shown live"
    outside = browser.js("return [...document.querySelectorAll('#chain td.live')].filter(td => !td.classList.contains('selected')).map(td => td.dataset.ticker)")
    assert all(int(t[-8:]) / 1000 in window for t in outside)


def test_polling_fallback_streams_quotes(host, browser):
    open_app(browser, host, "?transport=polling")
    browser.wait(lambda: connected(browser), 30)
    assert "polling" in browser.driver.find_element(By.ID, "connection").text.lower()
    browser.wait(lambda: len(live_cells(browser)) > 0, 60, "no live quotes over long-polling")


def test_degraded_badge_during_a_rate_limit_window():
    # The replay (from the session's open, real time) answers 429 to every look-up from 20 s to 50 s; the host
    # refreshes chains every 2 s, so the page's chain refreshes reach the provider inside the window.
    faults = [{"kind": "rest-429", "atMs": 20000, "durationMs": 30000, "retryAfterMs": 1000}]
    server = Host(
        {**SESSION, "speed": 1, "loop": False, "startAt": "open", "faults": faults},
        host_config={"options": {"chainRefreshMs": 2000}},
    )
    browser = Browser()
    try:
        open_app(browser, server, "?refresh=1500")
        browser.wait(lambda: int(chart_data(browser).get("bars") or 0) > 0, 60)
        browser.wait(lambda: browser.js("return document.getElementById('badge-degraded').hidden") is False, 60,
                     "the Degraded badge never appeared during the 429 window")
        assert int(chart_data(browser)["bars"]) > 0, "the chart went blank while the cache had bars"
        browser.screenshot("degraded")
        browser.wait(lambda: browser.js("return document.getElementById('badge-degraded').hidden") is True, 90,
                     "the Degraded badge stayed after the window")
    finally:
        browser.quit()
        server.stop()


def test_reconnects_and_resubscribes_after_a_server_restart():
    server = Host(dict(SESSION))
    browser = Browser()
    try:
        open_app(browser, server)
        browser.wait(lambda: len(live_cells(browser)) > 0, 60)
        server.stop()
        browser.wait(lambda: not connected(browser), 60, "the page did not notice the server going away")
        browser.wait(lambda: len(live_cells(browser)) == 0, 10, "cells still shown live with no server")
        server.start()
        browser.wait(lambda: connected(browser), 60, "never reconnected")
        browser.wait(lambda: len(live_cells(browser)) > 0, 60, "subscriptions were not restored after reconnecting")
    finally:
        browser.quit()
        server.stop()
