// Browser tests of the hosted payment page (proto-docs/checkout.md), in Debian's Chromium
// (/usr/bin/chromium) driven by playwright-core, against the real cashierd and aplus-sim that
// run.py starts. Each test creates its own payment through the merchant API, as a shop would,
// plays the user in the browser and the payer on aplus-sim's checkout page, checks what the
// page shows against what cashierd knows, runs axe-core on every page (no serious or critical
// violation), fails on any Content-Security-Policy violation, and keeps a screenshot of each
// page in $SCREENSHOTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const CASHIERD = process.env.CASHIERD_URL;
const SIM = process.env.SIM_URL;
const CA = fs.readFileSync(process.env.CASHIER_CA);
const TOKEN = process.env.MERCHANT_TOKEN;
const SHOTS = process.env.SCREENSHOTS;
const stamp = Date.now().toString(36);
const IPHONE_UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';
const DESKTOP = { viewport: { width: 1280, height: 860 }, ignoreHTTPSErrors: true, locale: 'en-US' };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
  userAgent: IPHONE_UA, ignoreHTTPSErrors: true, locale: 'en-US' };

let browser;
let shop;
let shopUrl;
const checkoutUrls = new Map();  // paymentRequestId -> checkoutUrl, what the shop remembers

// One HTTPS request with the dev CA; resolves {status, headers, body (parsed when JSON)}.
function call(method, url, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = https.request(url, { method, ca: CA, headers: { 'Content-Type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        let parsed = text;
        try { parsed = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, body: parsed });
      });
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

// A create as a merchant's server sends it (order.merchant left out: cashierd fills in the shop's
// configured identity); paymentRedirectUrl is the shop's return address,
// which forwards to the hosted result page (what a merchant hosting no result page of its own
// does with the checkoutUrl it stored).
async function createPayment(id, { value = '4500', description = 'Espresso beans, 1 kg', expiry, terminalType = 'WEB' } = {}) {
  const body = {
    paymentRequestId: id,
    order: {
      referenceOrderId: 'order-' + id, orderDescription: description,
      orderAmount: { currency: 'USD', value },
      env: { terminalType, ...(terminalType === 'WEB' ? {} : { osType: 'IOS' }) },
    },
    paymentAmount: { currency: 'USD', value },
    paymentRedirectUrl: shopUrl + '/return/' + id,
  };
  if (expiry) body.paymentExpiryTime = expiry;
  const r = await call('POST', CASHIERD + '/v1/payments', body, { Authorization: 'Bearer ' + TOKEN });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.match(r.body.checkoutUrl, new RegExp('^' + CASHIERD + '/pay/[0-9a-f]{32}$'));
  assert.ok(r.body.normalUrl);
  checkoutUrls.set(id, r.body.checkoutUrl);
  return r.body;
}

async function context(options) {
  const ctx = await browser.newContext(options);
  ctx.cspViolations = [];
  ctx.on('page', (p) => watch(ctx, p));
  return ctx;
}

function watch(ctx, page) {
  page.on('console', (m) => {
    if (/Content.Security.Policy|Refused to/i.test(m.text())) ctx.cspViolations.push(page.url() + ': ' + m.text());
  });
}

async function newPage(ctx) {
  const page = await ctx.newPage();
  return page;
}

async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

// axe-core in the page (evaluated through the DevTools protocol, so the page's CSP, which
// allows no inline script, is left as it is; what axe's own probes trip is not counted); serious and critical violations fail the test.
async function axe(page, what) {
  const seen = page.context().cspViolations;
  const before = seen.length;
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  seen.splice(before);  // what axe itself does (its probes) is not the page's doing
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).join(', ')), [],
    'axe-core violations on ' + what);
}

async function title(page, text) {
  await page.waitForFunction((t) => {
    const h = document.getElementById('result-title');
    return h && !document.getElementById('result-view').hidden && h.textContent === t;
  }, text, { timeout: 20000 });
}

function noCspViolations(ctx) {
  assert.deepEqual(ctx.cspViolations, [], 'Content-Security-Policy violations');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  shop = http.createServer((req, res) => {
    const m = /^\/return\/([^/?]+)/.exec(req.url);
    if (m && checkoutUrls.has(decodeURIComponent(m[1]))) {
      res.writeHead(302, { Location: checkoutUrls.get(decodeURIComponent(m[1])) + '/result' });
      res.end();
      return;
    }
    if (req.url === '/shop.css') {
      res.writeHead(200, { 'Content-Type': 'text/css' });
      res.end(`body{margin:0;font:16px/1.5 Georgia,serif;color:#2b2118;background:#faf6f1}
header{background:#2b2118;color:#faf6f1;padding:18px 24px;font-size:20px;letter-spacing:.04em}
main{max-width:560px;margin:32px auto;padding:0 20px}h1{font-size:26px;margin:0 0 8px}
.line{display:flex;justify-content:space-between;border-bottom:1px solid #e4d9cc;padding:10px 0}
h2{font-size:18px;margin:28px 0 12px}`);
      return;
    }
    const e = /^\/shop\/([^/?]+)/.exec(req.url);
    if (e && checkoutUrls.has(decodeURIComponent(e[1]))) {
      // A merchant's own checkout page with the embed script, under the shop's own strict CSP.
      res.writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Security-Policy': `default-src 'self'; script-src ${CASHIERD}; style-src 'self' ${CASHIERD}; img-src ${CASHIERD}; connect-src ${CASHIERD}`,
      });
      res.end(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Harbour Coffee Roasters: checkout</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/shop.css">
<script src="${CASHIERD}/pay/assets/embed.js" defer></script></head>
<body><header>Harbour Coffee Roasters</header><main><h1>Your order</h1>
<p class="line"><span>Espresso beans, 1 kg</span><span>$45.00</span></p><h2>Pay with</h2>
<div data-cashierd-checkout="${checkoutUrls.get(decodeURIComponent(e[1]))}"></div></main></body></html>`);
      return;
    }
    res.writeHead(404);
    res.end('not found');
  });
  await new Promise((r) => shop.listen(0, '127.0.0.1', r));
  shopUrl = 'http://127.0.0.1:' + shop.address().port;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (shop) shop.close();
});

test('status endpoint: only what the page needs, no token, strict headers; unknown ids are 404', async () => {
  const p = await createPayment('status-' + stamp);
  const r = await call('GET', p.checkoutUrl + '/status');
  assert.equal(r.status, 200);
  assert.deepEqual(Object.keys(r.body).sort(),
    ['amount', 'expired', 'final', 'merchantName', 'normalUrl', 'orderDescription', 'state', 'status', 'terminalType']);
  assert.equal(r.body.status, 'IN_PROCESS');
  assert.equal(r.body.normalUrl, p.normalUrl);
  assert.deepEqual(r.body.amount, { currency: 'USD', value: '4500' });
  assert.equal(r.headers['cache-control'], 'no-store');
  const page = await call('GET', p.checkoutUrl);
  assert.equal(page.status, 200);
  assert.match(page.headers['content-security-policy'], /default-src 'self'; script-src 'self'/);
  assert.match(page.headers['content-security-policy'], /frame-ancestors 'none'/);
  assert.doesNotMatch(page.body, /<script>|\sstyle=|\son[a-z]+=/i, 'no inline script, style or handler');
  assert.equal((await call('GET', CASHIERD + '/pay/' + '0'.repeat(32) + '/status')).status, 404);
  assert.equal((await call('GET', CASHIERD + '/pay/not-an-id')).status, 404);
  // Long polling: a wait on the current state answers as soon as the payer pays.
  const started = Date.now();
  const waiting = call('GET', p.checkoutUrl + '/status?wait=' + encodeURIComponent(r.body.state));
  await sleep(300);
  await call('POST', p.normalUrl + '/pay');
  const changed = await waiting;
  assert.ok(Date.now() - started < 10000);
  assert.equal(changed.body.final, changed.body.status === 'SUCCESS');
  assert.equal(changed.body.normalUrl, undefined, 'no checkout link once final');
});

test('desktop: new tab, confirm dialogue, SUCCESS after paying in the other tab', async () => {
  const p = await createPayment('desk-ok-' + stamp);
  const ctx = await context(DESKTOP);
  const page = await newPage(ctx);
  await page.goto(p.checkoutUrl);
  const option = page.locator('#alipayplus-option');
  await option.waitFor();
  assert.match(await option.textContent(), /5% off with GCash/);
  assert.equal(await page.locator('#amount').textContent(), '$45.00');
  await shot(page, 'checkout-method-desktop');
  await axe(page, 'payment method page (desktop)');
  const [wallet] = await Promise.all([ctx.waitForEvent('page'), option.click()]);
  await wallet.waitForLoadState();
  assert.equal(wallet.url(), p.normalUrl, 'Alipay+ opens in a new tab');
  assert.equal(page.url(), p.checkoutUrl, 'the merchant page stays');
  await page.locator('#confirm').waitFor({ state: 'visible' });
  // "I have paid" before paying: cashierd is asked, the dialogue stays open and says so.
  await page.click('#confirm-paid');
  await page.waitForFunction(() => /not received the confirmation/.test(document.getElementById('confirm-status').textContent));
  assert.ok(await page.locator('#confirm').isVisible());
  await shot(page, 'checkout-confirm-desktop');
  await axe(page, 'confirm dialogue');
  await shot(wallet, 'aplus-sim-checkout-desktop');
  await wallet.click('button[value=pay]');
  // The dialogue closes by itself once cashierd has the result, and the result page shows it.
  await page.waitForURL(p.checkoutUrl + '/result');
  await title(page, 'Payment successful');
  assert.equal(await page.locator('#confirm').isVisible(), false);
  await shot(page, 'checkout-result-success-desktop');
  await axe(page, 'result page (success)');
  // The wallet tab comes back through paymentRedirectUrl to the same result.
  await wallet.waitForURL(p.checkoutUrl + '/result');
  await title(wallet, 'Payment successful');
  noCspViolations(ctx);
  await ctx.close();
});

test('desktop: "Payment failed, try again" reopens the choice; FAIL after failing', async () => {
  const p = await createPayment('desk-fail-' + stamp, { value: '2750', description: 'Pour-over kettle' });
  const ctx = await context(DESKTOP);
  const page = await newPage(ctx);
  await page.goto(p.checkoutUrl);
  const option = page.locator('#alipayplus-option');
  await option.waitFor();
  const [first] = await Promise.all([ctx.waitForEvent('page'), option.click()]);
  await page.locator('#confirm').waitFor({ state: 'visible' });
  await page.click('#confirm-retry');
  await page.locator('#confirm').waitFor({ state: 'hidden' });
  assert.match(await page.locator('#method-hint').textContent(), /again/);
  await first.close();
  const [wallet] = await Promise.all([ctx.waitForEvent('page'), option.click()]);
  await page.locator('#confirm').waitFor({ state: 'visible' });
  await wallet.click('button[value=fail]');
  await page.waitForURL(p.checkoutUrl + '/result');
  await title(page, 'Payment failed');
  await shot(page, 'checkout-result-fail-desktop');
  await axe(page, 'result page (fail)');
  noCspViolations(ctx);
  await ctx.close();
});

test('phone: the same tab goes to Alipay+, the redirect brings it back to the result', async () => {
  const p = await createPayment('phone-ok-' + stamp, { value: '1250', description: 'Flat white and croissant', terminalType: 'WAP' });
  const ctx = await context(PHONE);
  const page = await newPage(ctx);
  await page.goto(p.checkoutUrl);
  const option = page.locator('#alipayplus-option');
  await option.waitFor();
  await shot(page, 'checkout-method-phone');
  await axe(page, 'payment method page (phone)');
  await option.tap();
  await page.waitForURL(p.normalUrl);
  assert.equal(ctx.pages().length, 1, 'no new tab on a phone');
  await shot(page, 'aplus-sim-checkout-phone');
  await page.tap('button[value=pay]');
  await page.waitForURL(p.checkoutUrl + '/result', { timeout: 15000 });
  await title(page, 'Payment successful');
  await shot(page, 'checkout-result-success-phone');
  await axe(page, 'result page (phone)');
  noCspViolations(ctx);
  await ctx.close();
});

test('phone, lost redirect: back on the merchant page, the confirm dialogue leads to the result', async () => {
  const p = await createPayment('phone-lost-' + stamp, { value: '980', description: 'Cold brew [sim:redirect-lost]', terminalType: 'WAP' });
  const ctx = await context(PHONE);
  const page = await newPage(ctx);
  await page.goto(p.checkoutUrl);
  await page.locator('#alipayplus-option').tap();
  await page.waitForURL(p.normalUrl);
  await page.tap('button[value=pay]');
  await page.waitForLoadState();
  await sleep(1500);
  assert.ok(page.url().startsWith(SIM), 'the wallet never sends the user back');
  // The user goes back by hand: to the wallet page, then to the merchant's page.
  await page.goBack();
  if (!page.url().startsWith(p.checkoutUrl)) await page.goBack();
  await page.waitForURL(p.checkoutUrl + '/result', { timeout: 15000 });
  await title(page, 'Payment successful');
  noCspViolations(ctx);
  await ctx.close();
});

test('desktop, lost redirect and no notify: the merchant tab still reaches the result', async () => {
  const p = await createPayment('desk-lost-' + stamp, { value: '1500', description: 'Tasting flight [sim:redirect-lost,notify-none]' });
  const ctx = await context(DESKTOP);
  const page = await newPage(ctx);
  await page.goto(p.checkoutUrl);
  const [wallet] = await Promise.all([ctx.waitForEvent('page'), page.locator('#alipayplus-option').click()]);
  await wallet.click('button[value=pay]');
  // No notify: cashierd learns it by its own inquiry. Until then the user may press "I have
  // paid" (each press asks cashierd); the long poll may also get there first.
  const deadline = Date.now() + 45000;
  while (!page.url().endsWith('/result') && Date.now() < deadline) {
    if (await page.locator('#confirm-paid').isVisible()) await page.click('#confirm-paid').catch(() => {});
    await sleep(500);
  }
  await page.waitForURL(p.checkoutUrl + '/result');
  await title(page, 'Payment successful');
  assert.ok(wallet.url().startsWith(SIM), 'the wallet tab stayed where it was');
  noCspViolations(ctx);
  await ctx.close();
});

test('Alipay+ not available: no option is rendered', async () => {
  assert.equal((await call('POST', SIM + '/sim/consult', { enabled: false })).status, 200);
  try {
    const p = await createPayment('unavailable-' + stamp, { value: '3310', description: 'Gift card' });
    const ctx = await context(DESKTOP);
    const page = await newPage(ctx);
    await page.goto(p.checkoutUrl);
    await page.locator('#no-options').waitFor();
    assert.equal(await page.locator('#alipayplus-option').count(), 0);
    assert.equal(await page.locator('img[src$="alipayplus.svg"]').count(), 0);
    await shot(page, 'checkout-unavailable');
    await axe(page, 'payment method page (unavailable)');
    noCspViolations(ctx);
    await ctx.close();
  } finally {
    await call('POST', SIM + '/sim/consult', { enabled: true });
  }
});

test('an expired payment shows as expired, with no way to pay', async () => {
  const expiry = new Date(Date.now() + 2000).toISOString();
  const p = await createPayment('expired-' + stamp, { value: '600', description: 'Day-old pastries', expiry });
  await sleep(2500);
  const status = await call('GET', p.checkoutUrl + '/status');
  assert.equal(status.body.expired, true);
  assert.equal(status.body.normalUrl, undefined);
  const ctx = await context(DESKTOP);
  const page = await newPage(ctx);
  await page.goto(p.checkoutUrl);
  await page.waitForURL(p.checkoutUrl + '/result');
  await title(page, 'Payment expired');
  assert.equal(await page.locator('#alipayplus-option').count(), 0);
  await shot(page, 'checkout-expired');
  await axe(page, 'result page (expired)');
  noCspViolations(ctx);
  await ctx.close();
});

test('a result page opened with a forged status shows the server\'s, and follows it', async () => {
  const p = await createPayment('forged-' + stamp, { value: '5200', description: 'Grinder burr set' });
  const ctx = await context(DESKTOP);
  const page = await newPage(ctx);
  await page.goto(p.checkoutUrl + '/result?status=SUCCESS&resultStatus=S&resultCode=SUCCESS#SUCCESS');
  await title(page, 'Waiting for confirmation');
  assert.doesNotMatch(await page.textContent('body'), /Payment successful/);
  await shot(page, 'checkout-result-pending');
  await axe(page, 'result page (pending)');
  // Still open: the page keeps checking and shows the real outcome when it comes.
  await call('POST', p.normalUrl + '/fail');
  await title(page, 'Payment failed');
  noCspViolations(ctx);
  await ctx.close();
});

test('promotion texts follow the browser language, with en_US as the fallback', async () => {
  const p = await createPayment('locale-' + stamp, { value: '4100', description: 'Moka pot' });
  for (const [locale, text] of [['ko-KR', 'GCash 결제 시 5% 할인'], ['zh-CN', '使用 GCash 立减 5%'], ['fr-FR', '5% off with GCash']]) {
    const ctx = await context({ ...DESKTOP, locale });
    const page = await newPage(ctx);
    await page.goto(p.checkoutUrl);
    await page.locator('#alipayplus-option').waitFor();
    assert.equal(await page.locator('.promo').first().textContent(), text, locale);
    noCspViolations(ctx);
    await ctx.close();
  }
});

test('embed script on the merchant\'s own page: option, dialogue, result', async () => {
  const id = 'embed-' + stamp;
  const p = await createPayment(id, { value: '4500' });
  const ctx = await context(DESKTOP);
  const page = await newPage(ctx);
  await page.goto(shopUrl + '/shop/' + id);
  const option = page.locator('.cashierd-option');
  await option.waitFor();
  assert.match(await option.textContent(), /5% off with GCash/);
  await shot(page, 'embed-merchant-page');
  await axe(page, 'merchant page with the embed script');
  const [wallet] = await Promise.all([ctx.waitForEvent('page'), option.click()]);
  await page.locator('.cashierd-confirm').waitFor({ state: 'visible' });
  await wallet.click('button[value=pay]');
  await page.waitForURL(p.checkoutUrl + '/result');
  await title(page, 'Payment successful');
  noCspViolations(ctx);
  await ctx.close();
});
