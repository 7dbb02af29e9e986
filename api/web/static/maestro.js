// Maestro web view: the little behaviour the server-rendered pages need.
// - <main data-refresh="URL">: keep the page body (the partial template) up to date. While
//   something on it is active (X-Active: 1) it is fetched every 2.5 s; otherwise the cheap
//   change feed (/changes, a stamp that moves with every event and run) is polled every 2.5 s
//   and the body fetched when it moves, or every 30 s at the latest. The new body is morphed
//   into the old one (idiomorph.js): focus, scroll, open <details>, typed text stay. The
//   "updated … ago" line under the header says how fresh the page is; its button refreshes.
// - <pre data-log-url>: follow an attempt's log by polling it from the next offset;
// - [data-fit]: toggle a drawing between its natural size and the page width;
// - form[data-confirm]: ask before a destructive action.
"use strict";

(function () {
  const ACTIVE_EVERY = 2500;
  const STAMP_EVERY = 2500;
  const IDLE_EVERY = 30000;
  const LOG_EVERY = 1000;
  const fitted = new Set();

  function busy(root) {
    const el = document.activeElement;
    return el && root.contains(el) && /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName);
  }

  function applyFit() {
    document.querySelectorAll("[data-fit]").forEach((button) => {
      const target = document.getElementById(button.dataset.fit);
      if (!target) return;
      const fit = fitted.has(target.id);
      target.classList.toggle("fit", fit);
      button.setAttribute("aria-pressed", String(fit));
      button.textContent = fit ? "Natural size" : "Fit to screen";
    });
  }

  function morph(main, html) {
    const keep = (attribute, element) =>
      // the reader's own state, which the server does not know
      !(attribute === "open" && element.tagName === "DETAILS");
    if (window.Idiomorph) {
      window.Idiomorph.morph(main, html, {
        morphStyle: "innerHTML",
        ignoreActiveValue: true,
        callbacks: { beforeAttributeUpdated: keep },
      });
    } else {
      main.innerHTML = html; // idiomorph.js did not load: replace (focus is lost)
    }
    applyFit();
  }

  function ago(seconds) {
    if (seconds < 5) return "just now";
    if (seconds < 60) return `${Math.floor(seconds / 5) * 5} s ago`;
    return `${Math.floor(seconds / 60)} min ago`;
  }

  function refresh(main) {
    const url = main.dataset.refresh;
    const line = document.getElementById("freshness");
    const told = document.getElementById("updated");
    if (!url) return;
    if (line) line.hidden = false;
    let fetchedAt = Date.now();
    let lastFull = Date.now();
    let stamp = null;
    let timer = null;
    let running = false;

    function showAge() {
      if (told) told.textContent = `Updated ${ago((Date.now() - fetchedAt) / 1000)}`;
    }

    async function reload() {
      const response = await fetch(url, {
        headers: { "X-Fragment": "1" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (response.status === 401) {
        window.location.reload();
        return;
      }
      if (response.ok) {
        const html = await response.text();
        main.dataset.active = response.headers.get("X-Active") === "1" ? "true" : "false";
        morph(main, html);
        fetchedAt = lastFull = Date.now();
      }
    }

    async function moved() {
      const response = await fetch("/changes", { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) return false;
      const now = (await response.text()).trim();
      const changed = stamp !== null && now !== stamp;
      stamp = now;
      return changed;
    }

    async function tick(forced) {
      if (running) return;
      running = true;
      try {
        if (forced) {
          await reload();
        } else if (!document.hidden && !busy(main)) {
          const active = main.dataset.active === "true";
          if (active || Date.now() - lastFull >= IDLE_EVERY || (await moved())) {
            await reload();
          }
        }
      } catch (e) {
        // the server is restarting or the network is down: try again later
      }
      running = false;
      showAge();
      clearTimeout(timer);
      timer = setTimeout(tick, main.dataset.active === "true" ? ACTIVE_EVERY : STAMP_EVERY);
    }

    const now = document.getElementById("refresh-now");
    if (now) now.addEventListener("click", () => tick(true));
    setInterval(showAge, 5000);
    moved().catch(() => {});
    timer = setTimeout(tick, main.dataset.active === "true" ? ACTIVE_EVERY : STAMP_EVERY);
  }

  function follow(pre) {
    const url = pre.dataset.logUrl;
    const state = document.getElementById("log-state");
    let offset = Number(pre.dataset.offset || 0);
    async function tick() {
      let more = true;
      try {
        const response = await fetch(`${url}?offset=${offset}`, {
          credentials: "same-origin",
          cache: "no-store",
        });
        if (response.ok) {
          const text = await response.text();
          const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
          if (text) {
            pre.append(document.createTextNode(text));
            if (atBottom) pre.scrollTop = pre.scrollHeight;
          }
          offset = Number(response.headers.get("X-Next-Offset") || offset);
          const status = response.headers.get("X-Attempt-Status") || "";
          const running = status === "QUEUED" || status === "RUNNING";
          if (!running && !text) {
            more = false;
            if (state) state.textContent = status.toLowerCase().replace("_", " ");
            window.location.reload(); // show the attempt's final status, exit code, error
          }
        }
      } catch (e) {
        // try again
      }
      if (more) setTimeout(tick, LOG_EVERY);
    }
    setTimeout(tick, LOG_EVERY);
  }

  // delegated once on the document: the elements come and go with each refresh
  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("[data-fit]");
    if (!button) return;
    const id = button.dataset.fit;
    if (fitted.has(id)) fitted.delete(id);
    else fitted.add(id);
    applyFit();
  });
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.matches && form.matches("form[data-confirm]") && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    const main = document.getElementById("main");
    if (main) refresh(main);
    document.querySelectorAll("pre[data-log-url][data-follow='true']").forEach(follow);
    const log = document.getElementById("attempt-log");
    if (log) log.scrollTop = log.scrollHeight;
  });
})();
