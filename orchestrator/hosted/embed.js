// The embeddable form of the hosted payment page (proto-docs/checkout.md): a merchant page adds
//   <div data-cashierd-checkout="https://pay.example.com/pay/<checkoutId>"></div>
//   <script src="https://pay.example.com/pay/assets/embed.js" defer></script>
// and gets, inside that element and in its own layout, the Alipay+ option (or nothing when
// Alipay+ is not available), the wallet opened in a new tab (desktop) or the same tab (phone),
// the confirm dialogue, and when the payment is final the hosted result page (or, if the page
// handles the `cashierd:final` event and calls preventDefault(), whatever the merchant does).
// It reads cashierd's public status and options endpoints (CORS, no credentials) and needs no
// merchant token. Style: embed.css, linked unless data-cashierd-style="none". Classes start
// with "cashierd-", so the merchant's CSS can restyle everything.
(function () {
  'use strict';
  var script = document.currentScript;
  var origin = script ? new URL(script.src, window.location.href).origin : '';

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }

  function localised(map) {
    var wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en-US'];
    var keys = Object.keys(map);
    for (var i = 0; i < wanted.length; i++) {
      var tag = String(wanted[i]).replace('-', '_');
      if (map[tag]) return map[tag];
      var lang = tag.split('_')[0].toLowerCase();
      for (var k = 0; k < keys.length; k++) if (keys[k].split('_')[0].toLowerCase() === lang) return map[keys[k]];
    }
    return map.en_US || (keys.length ? map[keys[0]] : '');
  }

  function isPhone(s) {
    return /Android|iPhone|iPad|iPod|Mobile/i.test(navigator.userAgent || '') ||
      s.terminalType === 'WAP' || s.terminalType === 'APP';
  }

  function mount(host) {
    var url;
    try { url = new URL(host.getAttribute('data-cashierd-checkout'), window.location.href); } catch (e) { return; }
    var m = /^\/pay\/([0-9a-f]{32})\/?$/.exec(url.pathname);
    if (!m) return;
    var base = url.origin + '/pay/' + m[1];
    var latest = null;
    var link = null;
    var dialog = null;
    var status = null;

    function get(path) {
      return fetch(base + path, { cache: 'no-store', credentials: 'omit', mode: 'cors' }).then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      });
    }

    function final(s) {
      if (dialog && dialog.open) dialog.close();
      var ev = new CustomEvent('cashierd:final', { bubbles: true, cancelable: true, detail: { status: s.status } });
      if (host.dispatchEvent(ev)) window.location.href = base + '/result';
    }

    function buildDialog() {
      dialog = el('dialog', 'cashierd-confirm');
      dialog.setAttribute('aria-labelledby', 'cashierd-confirm-title-' + m[1]);
      var h = el('h2', 'cashierd-confirm-title', 'Finish paying in Alipay+');
      h.id = 'cashierd-confirm-title-' + m[1];
      dialog.appendChild(h);
      dialog.appendChild(el('p', 'cashierd-confirm-text', 'We opened the Alipay+ checkout. Complete the payment there, then come back to this page.'));
      status = el('p', 'cashierd-confirm-status');
      status.setAttribute('role', 'status');
      dialog.appendChild(status);
      var paid = el('button', 'cashierd-button cashierd-primary', 'I have paid');
      var retry = el('button', 'cashierd-button cashierd-secondary', 'Payment failed, try again');
      paid.type = 'button'; retry.type = 'button';
      paid.addEventListener('click', function () { ask(true); });
      retry.addEventListener('click', function () { ask(false); });
      var actions = el('div', 'cashierd-actions');
      actions.appendChild(paid); actions.appendChild(retry);
      dialog.appendChild(actions);
      document.body.appendChild(dialog);
    }

    function ask(paid) {
      status.textContent = 'Checking with Alipay+…';
      get('/status').then(function (s) {
        latest = s;
        if (s.final || s.expired) { final(s); return; }
        if (paid) status.textContent = 'We have not received the confirmation yet. This closes by itself as soon as it arrives.';
        else dialog.close();
      }, function () { status.textContent = 'Could not reach the server. Please try again.'; });
    }

    function render(opts) {
      host.textContent = '';
      if (!opts.available) return;  // nothing at all when Alipay+ is not available
      link = el('a', 'cashierd-option');
      var img = el('img', 'cashierd-logo');
      img.src = origin + '/pay/assets/alipayplus.svg';
      img.alt = '';
      img.width = 84; img.height = 28;
      var text = el('span', 'cashierd-option-text');
      text.appendChild(el('span', 'cashierd-option-name', 'Alipay+'));
      (opts.promotions || []).forEach(function (map) {
        var p = localised(map);
        if (p) text.appendChild(el('span', 'cashierd-promo', p));
      });
      link.appendChild(img); link.appendChild(text);
      link.addEventListener('click', function (event) {
        if (!latest || !latest.normalUrl) { event.preventDefault(); return; }
        if (isPhone(latest)) { event.preventDefault(); window.location.href = latest.normalUrl; return; }
        if (!dialog) buildDialog();
        status.textContent = '';
        dialog.showModal();
      });
      host.appendChild(link);
      update(latest);
    }

    function update(s) {
      if (!link || !s) return;
      if (s.normalUrl) {
        link.href = s.normalUrl;
        link.rel = 'noopener noreferrer';
        if (isPhone(s)) link.removeAttribute('target'); else link.target = '_blank';
        link.removeAttribute('aria-disabled');
      } else {
        link.removeAttribute('href');
        link.setAttribute('aria-disabled', 'true');
      }
    }

    function poll(state) {
      get('/status' + (state ? '?wait=' + encodeURIComponent(state) : '')).then(function (s) {
        latest = s;
        update(s);
        if (s.final || s.expired) { final(s); return; }
        poll(s.state);
      }, function () { setTimeout(function () { poll(state); }, 3000); });
    }

    get('/status').then(function (s) {
      latest = s;
      if (s.final || s.expired) { final(s); return; }
      get('/options').then(render, function () { host.textContent = ''; });
      poll(s.state);
    }, function () { host.textContent = ''; });
  }

  if (!script || script.getAttribute('data-cashierd-style') !== 'none') {
    var css = document.createElement('link');
    css.rel = 'stylesheet';
    css.href = origin + '/pay/assets/embed.css';
    document.head.appendChild(css);
  }
  function start() {
    Array.prototype.forEach.call(document.querySelectorAll('[data-cashierd-checkout]'), mount);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
