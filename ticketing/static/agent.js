/* Agent back office: live queue and ticket updates, collision warnings, countdowns, SMS
 * counter, canned responses and keyboard shortcuts. Everything here is an enhancement: the
 * pages work without it (plain links and forms). No inline scripts: the CSP forbids them. */
(function () {
  "use strict";

  var QUEUE_POLL_MS = 15000;
  var PRESENCE_POLL_MS = 10000;
  var COUNTDOWN_MS = 1000;

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.getAttribute("content") : "";

  // --- helpers -------------------------------------------------------------------------------

  function duration(seconds) {
    // Same wording as the server's `duration` filter: "2 d 3 h", "3 h 10 m", "4 m", "45 s".
    seconds = Math.floor(Math.abs(seconds));
    var days = Math.floor(seconds / 86400);
    var hours = Math.floor((seconds % 86400) / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    if (days) { return days + " d " + hours + " h"; }
    if (hours) { return hours + " h " + minutes + " m"; }
    if (minutes) { return minutes + " m"; }
    return (seconds % 60) + " s";
  }

  function labels() {
    var root = document.querySelector("[data-label-in]");
    return {
      in: root ? root.getAttribute("data-label-in") : "in %s",
      overdue: root ? root.getAttribute("data-label-overdue") : "%s overdue"
    };
  }

  function updateCountdowns() {
    var words = labels();
    var now = Date.now();
    document.querySelectorAll("time[data-countdown]").forEach(function (element) {
      var due = Date.parse(element.getAttribute("datetime"));
      if (isNaN(due)) { return; }
      var seconds = (due - now) / 1000;
      var text = seconds < 0 ? words.overdue : words.in;
      element.textContent = text.replace("%s", duration(seconds));
      element.classList.toggle("overdue", seconds < 0);
    });
  }

  function isTyping(target) {
    if (!target) { return false; }
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  function postForm(url, fields) {
    var body = new URLSearchParams();
    Object.keys(fields).forEach(function (key) { body.append(key, fields[key]); });
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "X-CSRFToken": csrfToken,
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded"
      },
      body: body
    }).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    });
  }

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      });
  }

  // --- keyboard shortcuts and their help ------------------------------------------------------

  var shortcuts = {};

  function openHelp() {
    var dialog = document.getElementById("shortcuts-help");
    if (dialog && typeof dialog.showModal === "function" && !dialog.open) { dialog.showModal(); }
  }

  function setUpShortcuts() {
    document.querySelectorAll("[data-open-shortcuts]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", openHelp);
    });
    shortcuts["?"] = openHelp;
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && isTyping(event.target)) {
        event.target.blur();
        return;
      }
      if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && event.target.form) {
        var form = event.target.form;
        var send = form.querySelector('button[type="submit"].primary') ||
          form.querySelector('button[type="submit"]');
        event.preventDefault();
        if (send && form.requestSubmit) { form.requestSubmit(send); } else { form.submit(); }
        return;
      }
      if (isTyping(event.target) || event.ctrlKey || event.metaKey || event.altKey) { return; }
      var dialog = document.getElementById("shortcuts-help");
      if (dialog && dialog.open) { return; }
      var handler = shortcuts[event.key];
      if (handler) {
        event.preventDefault();
        handler(event);
      }
    });
  }

  // --- the queue ----------------------------------------------------------------------------

  function setUpQueue(page) {
    var selected = -1;

    function rows() { return Array.prototype.slice.call(page.querySelectorAll("tr.queue-row")); }

    function select(index) {
      var all = rows();
      if (!all.length) { return; }
      selected = Math.max(0, Math.min(index, all.length - 1));
      all.forEach(function (row, i) {
        row.classList.toggle("selected", i === selected);
        row.setAttribute("aria-selected", i === selected ? "true" : "false");
      });
      all[selected].scrollIntoView({ block: "nearest" });
      var link = all[selected].querySelector("a");
      if (link) { link.focus({ preventScroll: true }); }
    }

    function open() {
      var all = rows();
      if (selected >= 0 && all[selected]) {
        window.location.href = all[selected].getAttribute("data-href");
      }
    }

    page.addEventListener("click", function (event) {
      var row = event.target.closest("tr.queue-row");
      if (!row || event.target.closest("a, button, input")) { return; }
      window.location.href = row.getAttribute("data-href");
    });

    shortcuts.j = function () { select(selected + 1); };
    shortcuts.k = function () { select(selected < 0 ? 0 : selected - 1); };
    shortcuts.o = open;
    shortcuts.Enter = open;
    shortcuts["/"] = function () {
      var search = document.getElementById("search");
      if (search) { search.focus(); search.select(); }
    };

    var pollUrl = page.getAttribute("data-poll-url");
    var firstPage = page.getAttribute("data-first-page") === "true";
    var live = document.getElementById("queue-live");

    function refresh() {
      if (document.hidden) { return; }
      getJson(pollUrl).then(function (data) {
        Object.keys(data.counts).forEach(function (name) {
          var badge = page.querySelector('[data-queue-count="' + name + '"]');
          if (badge) {
            var cap = 1000;
            badge.textContent = data.counts[name] > cap ? cap + "+" : String(data.counts[name]);
          }
        });
        if (firstPage) {
          var body = document.getElementById("queue-rows");
          var current = rows().map(function (row) { return row.getAttribute("data-href"); });
          // Server-rendered, escaped HTML from our own template.
          body.innerHTML = data.rows_html;
          var after = rows().map(function (row) { return row.getAttribute("data-href"); });
          if (selected >= 0) { select(Math.min(selected, after.length - 1)); }
          if (live && current.join() !== after.join()) {
            live.textContent = live.getAttribute("data-updated") || "updated";
          }
        }
        updateCountdowns();
      }).catch(function () { /* offline for a moment: the next poll tries again */ });
    }

    if (live) { live.setAttribute("data-updated", page.getAttribute("data-label-updated") || ""); }
    window.setInterval(refresh, QUEUE_POLL_MS);
  }

  // --- the ticket page ----------------------------------------------------------------------

  function setUpTicket(page) {
    var replyText = document.getElementById("reply-text");
    var noteText = document.getElementById("note-text");
    var identity = document.getElementById("reply-identity");
    var counter = document.getElementById("sms-counter");
    var canned = document.getElementById("reply-canned");
    var news = document.getElementById("news");
    var submitting = false;

    function follow(attribute) {
      return function () {
        var url = page.getAttribute(attribute);
        if (url) { window.location.href = url; }
      };
    }

    function submitForm(id) {
      return function () {
        var form = document.getElementById(id);
        var button = form ? form.querySelector('button[type="submit"]') : null;
        if (button && !button.disabled) { submitting = true; form.requestSubmit(button); }
      };
    }

    shortcuts.r = function () { if (replyText) { replyText.focus(); } };
    shortcuts.n = function () { if (noteText) { noteText.focus(); } };
    shortcuts.a = submitForm("claim-form");
    shortcuts.s = submitForm("solve-form");
    shortcuts.u = follow("data-queue-url");
    shortcuts.j = follow("data-next-url");
    shortcuts.k = follow("data-previous-url");

    // Canned responses go straight into the reply box; without JS the Insert button does it.
    if (canned && replyText) {
      var insert = document.getElementById("insert-canned");
      if (insert) { insert.hidden = true; }
      canned.addEventListener("change", function () {
        var option = canned.options[canned.selectedIndex];
        var text = option ? option.getAttribute("data-text") : null;
        if (!text) { return; }
        var start = replyText.selectionStart || 0;
        var end = replyText.selectionEnd || 0;
        var value = replyText.value;
        replyText.value = value.slice(0, start) + text + value.slice(end);
        replyText.focus();
        replyText.selectionStart = replyText.selectionEnd = start + text.length;
        canned.selectedIndex = 0;
        updateCounter();
      });
    }

    // SMS: count characters and segments with the server's rules while the agent types.
    var counterTimer = null;
    function isSms() {
      if (!identity) { return false; }
      var option = identity.options[identity.selectedIndex];
      return option && option.getAttribute("data-kind") === "phone";
    }
    function updateCounter() {
      if (!counter || !replyText) { return; }
      counter.hidden = !isSms();
      if (!isSms()) { return; }
      window.clearTimeout(counterTimer);
      counterTimer = window.setTimeout(function () {
        postForm(page.getAttribute("data-segments-url"), { text: replyText.value })
          .then(function (info) {
            var pattern = counter.getAttribute("data-pattern") ||
              "%c characters · %s SMS segment(s) · %e";
            var text = pattern.replace("%c", info.characters).replace("%s", info.segments)
              .replace("%e", info.encoding);
            if (info.too_long) { text += " — " + (counter.getAttribute("data-too-long") || "too long"); }
            counter.textContent = text;
            counter.classList.toggle("too-long", info.too_long);
          }).catch(function () { /* the server counts again on send */ });
      }, 250);
    }
    if (replyText) { replyText.addEventListener("input", updateCounter); }
    if (identity) { identity.addEventListener("change", updateCounter); }

    // Countdowns tick every second.
    window.setInterval(updateCountdowns, COUNTDOWN_MS);

    // Presence: say we are here (and typing), hear who else is, and notice what is new.
    var collision = document.getElementById("collision");
    function showViewers(viewers) {
      if (!collision) { return; }
      while (collision.firstChild) { collision.removeChild(collision.firstChild); }
      viewers.forEach(function (viewer) {
        var line = document.createElement("p");
        line.className = "viewer" + (viewer.replying ? " viewer-replying" : "");
        var pattern = viewer.replying ? page.getAttribute("data-label-replying")
          : page.getAttribute("data-label-viewing");
        line.textContent = (pattern || "%s").replace("%s", viewer.name);
        collision.appendChild(line);
      });
    }

    function refreshFragments() {
      return getJson(page.getAttribute("data-fragments-url")).then(function (data) {
        // Server-rendered, escaped HTML from our own templates; the composer is left alone so
        // a draft is never lost.
        var openDetails = {};
        document.querySelectorAll("#timeline details[open]").forEach(function (details) {
          var holder = details.closest("[id]");
          if (holder) { openDetails[holder.id + details.className] = true; }
        });
        document.getElementById("timeline").innerHTML = data.timeline;
        document.getElementById("ticket-state").innerHTML = data.sidebar;
        document.getElementById("ticket-summary").innerHTML = data.summary;
        document.querySelectorAll("#timeline details").forEach(function (details) {
          var holder = details.closest("[id]");
          if (holder && openDetails[holder.id + details.className]) { details.open = true; }
        });
        page.setAttribute("data-version", data.version);
        updateCountdowns();
      });
    }

    function poll() {
      if (document.hidden) { return; }
      var replying = !!(replyText && (document.activeElement === replyText ||
        replyText.value.trim()));
      postForm(page.getAttribute("data-presence-url"), {
        replying: replying ? "y" : "",
        seen: page.getAttribute("data-seen") || ""
      }).then(function (data) {
        showViewers(data.viewers);
        if (news) {
          if (data.newer_messages > 0) {
            var pattern = page.getAttribute("data-label-newer") || "%s new customer message(s)";
            news.textContent = pattern.replace("%s", data.newer_messages);
            news.hidden = false;
          } else {
            news.hidden = true;
          }
        }
        if (data.version !== page.getAttribute("data-version")) { return refreshFragments(); }
        return null;
      }).catch(function () { /* the next poll tries again */ });
    }
    window.setInterval(poll, PRESENCE_POLL_MS);
    if (replyText) { replyText.addEventListener("focus", poll, { once: true }); }

    document.querySelectorAll("form").forEach(function (form) {
      form.addEventListener("submit", function () { submitting = true; });
    });
    window.addEventListener("beforeunload", function (event) {
      if (!submitting && replyText && replyText.value.trim() &&
          replyText.value !== replyText.defaultValue) {
        event.preventDefault();
        event.returnValue = "";
      }
    });
    window.addEventListener("pagehide", function () {
      if (!navigator.sendBeacon) { return; }
      var data = new FormData();
      data.append("csrf_token", csrfToken);
      navigator.sendBeacon(page.getAttribute("data-leave-url"), data);
    });
  }

  // --- start ----------------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", function () {
    setUpShortcuts();
    var queuePage = document.getElementById("queue-page");
    if (queuePage) { setUpQueue(queuePage); }
    var ticketPage = document.getElementById("ticket-page");
    if (ticketPage) { setUpTicket(ticketPage); }
    updateCountdowns();
  });
}());
