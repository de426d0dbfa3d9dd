// The hosted payment page's behaviour (page.html, proto-docs/checkout.md). Reads the checkoutId
// from the address, never a status: every status shown comes from cashierd's status endpoint,
// which this script long-polls (?wait=<state>) while the payment is open.
//   /pay/<id>         payment method page: the Alipay+ option (consult), then the wallet opens
//                     in a new tab (desktop) or this tab (phone), then the confirm dialogue
//   /pay/<id>/result  result page: the latest status, updated until it is final
// Plain ES2017, no framework, no third-party code, no cookies; sessionStorage only remembers that
// the wallet was opened from this tab (to bring the dialogue back after a phone's round trip).
(function () {
  'use strict';

  var match = /^\/pay\/([0-9a-f]{32})(\/result)?\/?$/.exec(window.location.pathname);
  var $ = function (id) { return document.getElementById(id); };
  if (!match) {
    showProblem('This payment link is not valid.');
    return;
  }
  var id = match[1];
  var base = '/pay/' + id;
  var onResultPage = Boolean(match[2]);
  var openedKey = 'cashierd.opened.' + id;
  var latest = null;
  var optionsShown = false;

  function isPhone(status) {
    var ua = navigator.userAgent || '';
    return /Android|iPhone|iPad|iPod|Mobile/i.test(ua) ||
      (status && (status.terminalType === 'WAP' || status.terminalType === 'APP'));
  }

  // "en-US" -> "en_US"; picks the browser's language, then its base language, then en_US.
  function localised(map) {
    var wanted = (navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en-US']);
    var keys = Object.keys(map);
    for (var i = 0; i < wanted.length; i++) {
      var tag = String(wanted[i]).replace('-', '_');
      if (map[tag]) return map[tag];
      var lang = tag.split('_')[0].toLowerCase();
      for (var k = 0; k < keys.length; k++) if (keys[k].split('_')[0].toLowerCase() === lang) return map[keys[k]];
    }
    return map.en_US || (keys.length ? map[keys[0]] : '');
  }

  function formatAmount(amount) {
    var currency = amount.currency;
    var digits = 2;
    try {
      digits = new Intl.NumberFormat('en', { style: 'currency', currency: currency }).resolvedOptions().maximumFractionDigits;
    } catch (e) { /* an unknown code: two digits */ }
    var minor = String(amount.value);
    var negative = minor.charAt(0) === '-';
    if (negative) minor = minor.slice(1);
    while (minor.length <= digits) minor = '0' + minor;
    var text = digits ? minor.slice(0, minor.length - digits) + '.' + minor.slice(minor.length - digits) : minor;
    var locale = (navigator.languages && navigator.languages[0]) || 'en-US';
    try {
      return new Intl.NumberFormat(locale, { style: 'currency', currency: currency, minimumFractionDigits: digits, maximumFractionDigits: digits })
        .format(Number((negative ? '-' : '') + text));
    } catch (e) {
      return currency + ' ' + (negative ? '-' : '') + text;
    }
  }

  function show(view) {
    $('loading').hidden = true;
    $('method-view').hidden = view !== 'method';
    $('result-view').hidden = view !== 'result';
  }

  function showProblem(text) {
    $('loading').hidden = true;
    $('method-view').hidden = true;
    $('result-view').hidden = false;
    $('result-badge').className = 'badge off';
    $('result-title').textContent = 'Payment not found';
    $('result-text').textContent = text;
    document.title = 'Payment not found';
  }

  function renderOrder(s) {
    $('merchant-name').textContent = s.merchantName || '';
    $('order-description').textContent = s.orderDescription || '';
    $('amount').textContent = formatAmount(s.amount);
  }

  function renderResult(s) {
    var badge = $('result-badge');
    var title; var text; var kind;
    if (s.status === 'SUCCESS') {
      kind = 'ok'; title = 'Payment successful'; text = 'Thank you. Your payment has been received.';
    } else if (s.status === 'FAIL') {
      kind = 'bad'; title = 'Payment failed'; text = 'The payment did not go through and you have not been charged.';
    } else if (s.expired) {
      kind = 'off'; title = 'Payment expired'; text = 'This payment is no longer open. Please return to the shop to start again.';
    } else if (s.status === 'CANCELLED') {
      kind = 'off'; title = 'Payment cancelled'; text = 'This payment was cancelled and you have not been charged.';
    } else {
      kind = 'wait'; title = 'Waiting for confirmation'; text = 'We have not received a confirmation from Alipay+ yet.';
    }
    badge.className = 'badge ' + kind;
    $('amount-label').textContent = s.status === 'SUCCESS' ? 'Amount paid' : (s.final || s.expired ? 'Amount' : 'Amount to pay');
    $('result-title').textContent = title;
    $('result-text').textContent = text;
    $('result-pending').hidden = s.final || s.expired;
    var retry = $('result-retry');
    retry.hidden = s.final || s.expired;
    retry.href = base;
    document.title = title;
    show('result');
  }

  function optionItem(opts, status) {
    var li = document.createElement('li');
    var a = document.createElement('a');
    a.className = 'option';
    a.id = 'alipayplus-option';
    var img = document.createElement('img');
    img.src = '/pay/assets/alipayplus.svg';
    img.alt = '';
    img.width = 84; img.height = 28;
    var text = document.createElement('span');
    text.className = 'option-text';
    var name = document.createElement('span');
    name.className = 'option-name';
    name.textContent = 'Alipay+';
    text.appendChild(name);
    var wallets = document.createElement('span');
    wallets.className = 'option-wallets';
    wallets.textContent = opts.wallets && opts.wallets.length
      ? 'Pay with ' + opts.wallets.join(', ') + ' and more e-wallets'
      : 'Pay with your e-wallet';
    text.appendChild(wallets);
    (opts.promotions || []).forEach(function (map) {
      var promo = localised(map);
      if (!promo) return;
      var p = document.createElement('span');
      p.className = 'promo';
      p.textContent = promo;
      text.appendChild(p);
    });
    var chevron = document.createElement('span');
    chevron.className = 'chevron';
    chevron.setAttribute('aria-hidden', 'true');
    chevron.textContent = '\u203A';
    a.appendChild(img); a.appendChild(text); a.appendChild(chevron);
    a.addEventListener('click', function (event) { choose(event, a); });
    li.appendChild(a);
    updateOption(a, status);
    return li;
  }

  function updateOption(a, s) {
    if (!a) return;
    if (s.normalUrl) {
      a.href = s.normalUrl;
      a.removeAttribute('aria-disabled');
      if (isPhone(s)) { a.removeAttribute('target'); } else { a.target = '_blank'; }
      a.rel = 'noopener noreferrer';
      $('method-hint').textContent = isPhone(s)
        ? 'You will be taken to Alipay+ and brought back here afterwards.'
        : 'Alipay+ opens in a new tab; keep this page open.';
    } else {
      a.removeAttribute('href');
      a.setAttribute('aria-disabled', 'true');
      $('method-hint').textContent = 'Preparing the payment…';
    }
  }

  // Desktop: the link opens the wallet in a new tab by itself; this tab shows the dialogue.
  // Phone: the same tab goes to the wallet (window.location.href), remembering that it did.
  function choose(event, a) {
    if (!latest || !latest.normalUrl) { event.preventDefault(); return; }
    try { sessionStorage.setItem(openedKey, '1'); } catch (e) { /* storage off: no dialogue on return */ }
    if (isPhone(latest)) {
      event.preventDefault();
      window.location.href = latest.normalUrl;
      return;
    }
    openConfirm('');
    void a;
  }

  function openConfirm(text) {
    var dialog = $('confirm');
    $('confirm-status').textContent = text;
    if (!dialog.open) dialog.showModal();
  }

  function closeConfirm() {
    var dialog = $('confirm');
    if (dialog.open) dialog.close();
  }

  function goToResult() {
    try { sessionStorage.removeItem(openedKey); } catch (e) { /* nothing to forget */ }
    if (!onResultPage) window.location.replace(base + '/result');
  }

  // One status answer, wherever it came from.
  function apply(s) {
    latest = s;
    renderOrder(s);
    if (onResultPage) { renderResult(s); return; }
    if (s.final || s.expired) {
      closeConfirm();
      goToResult();
      return;
    }
    updateOption($('alipayplus-option'), s);
    if (!optionsShown) loadOptions(s);
  }

  function loadOptions(s) {
    optionsShown = true;
    fetch(base + '/options', { cache: 'no-store', credentials: 'omit' })
      .then(function (r) { return r.ok ? r.json() : { available: false }; })
      .then(function (opts) {
        var list = $('options');
        list.textContent = '';
        $('no-options').hidden = Boolean(opts.available);
        if (opts.available) list.appendChild(optionItem(opts, latest || s));
        else $('method-hint').textContent = '';
        show('method');
      })
      .catch(function () { optionsShown = false; });
  }

  function fetchStatus(wait) {
    var url = base + '/status' + (wait ? '?wait=' + encodeURIComponent(wait) : '');
    return fetch(url, { cache: 'no-store', credentials: 'omit' }).then(function (r) {
      if (r.status === 404) throw new Error('not found');
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    });
  }

  var polling = false;
  function poll(state) {
    polling = true;
    fetchStatus(state).then(function (s) {
      apply(s);
      if (s.final) { polling = false; return; }
      poll(s.state);
    }, function (e) {
      if (e.message === 'not found') { polling = false; showProblem('This payment link is not valid or has been removed.'); return; }
      setTimeout(function () { poll(state); }, 2000);
    });
  }

  // The dialogue's buttons both ask for the latest result now.
  function ask(paid) {
    $('confirm-status').textContent = 'Checking with Alipay+…';
    fetchStatus('').then(function (s) {
      apply(s);
      if (s.final || s.expired) return;
      if (paid) {
        $('confirm-status').textContent = 'We have not received the confirmation yet. This closes by itself as soon as it arrives.';
      } else {
        closeConfirm();
        $('method-hint').textContent = 'Choose Alipay+ again to retry the payment.';
      }
    }, function () {
      $('confirm-status').textContent = 'Could not reach the server. Please try again.';
    });
  }

  $('confirm-paid').addEventListener('click', function () { ask(true); });
  $('confirm-retry').addEventListener('click', function () { ask(false); });

  // Back from the wallet in the same tab (phone), or restored from the back-forward cache: the
  // redirect may never come, so offer the dialogue and restart the status checks.
  window.addEventListener('pageshow', function (event) {
    var opened = false;
    try { opened = sessionStorage.getItem(openedKey) === '1'; } catch (e) { opened = false; }
    if (!onResultPage && opened) openConfirm('');
    if (event.persisted && !polling) poll('');
  });

  poll('');
})();
