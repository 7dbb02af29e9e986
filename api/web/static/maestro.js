// Maestro web view: the little behaviour the server-rendered pages need.
// - <main data-refresh="URL">: reload the page body (the partial template) every few
//   seconds while something on it is active (X-Active: 1), every 30 s otherwise;
// - <pre data-log-url>: follow an attempt's log by polling it from the next offset;
// - [data-fit]: toggle a drawing between its natural size and the page width;
// - form[data-confirm]: ask before a destructive action.
"use strict";

(function () {
  const ACTIVE_EVERY = 2500;
  const IDLE_EVERY = 30000;
  const LOG_EVERY = 1000;

  function busy(root) {
    const el = document.activeElement;
    return el && root.contains(el) && /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName);
  }

  function remember(root) {
    return {
      open: Array.from(root.querySelectorAll("details[open][id]"), (d) => d.id),
      scroll: Array.from(root.querySelectorAll("[id].grid-wrap, [id].dag-wrap"), (el) => [
        el.id, el.scrollLeft, el.scrollTop, el.classList.contains("fit"),
      ]),
    };
  }

  function restore(state) {
    state.open.forEach((id) => {
      const d = document.getElementById(id);
      if (d) d.open = true;
    });
    state.scroll.forEach(([id, left, top, fit]) => {
      const el = document.getElementById(id);
      if (!el) return;
      el.scrollLeft = left;
      el.scrollTop = top;
      el.classList.toggle("fit", fit);
    });
  }

  function refresh(main) {
    const url = main.dataset.refresh;
    if (!url) return;
    const schedule = () =>
      setTimeout(tick, main.dataset.active === "true" ? ACTIVE_EVERY : IDLE_EVERY);
    async function tick() {
      try {
        if (!document.hidden && !busy(main)) {
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
            const state = remember(main);
            main.innerHTML = html;
            restore(state);
            wire(main);
          }
        }
      } catch (e) {
        // the server is restarting or the network is down: try again later
      }
      schedule();
    }
    schedule();
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

  function wire(root) {
    root.querySelectorAll("[data-fit]").forEach((button) => {
      const target = document.getElementById(button.dataset.fit);
      if (!target) return;
      button.setAttribute("aria-pressed", String(target.classList.contains("fit")));
      button.addEventListener("click", () => {
        const fit = target.classList.toggle("fit");
        button.setAttribute("aria-pressed", String(fit));
        button.textContent = fit ? "Natural size" : "Fit to screen";
      });
    });
    root.querySelectorAll("form[data-confirm]").forEach((form) => {
      form.addEventListener("submit", (event) => {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const main = document.getElementById("main");
    if (main) {
      wire(main);
      refresh(main);
    }
    document.querySelectorAll("pre[data-log-url][data-follow='true']").forEach(follow);
    const log = document.getElementById("attempt-log");
    if (log) log.scrollTop = log.scrollHeight;
  });
})();
