// Maestro web view: the step page's log viewer (api/web/logs.py renders the lines).
// - The page holds the log's tail as numbered lines (stderr marked "err", arrival times);
//   "Load earlier" asks for the lines before the first one shown, by byte offset.
// - While the attempt runs, the lines after the last one are asked for every second and
//   appended (kept scrolled to the bottom if it was there); the page reloads once it ends.
// - Find: highlights the matches in the lines loaded, counts them (and, asked of the server,
//   those before the first line loaded), Enter / Shift+Enter (or the arrows) go to the next /
//   previous one, Escape clears, "/" jumps to the search box.
"use strict";

(function () {
  const LOG_EVERY = 1000;
  const RUNNING = new Set(["QUEUED", "RUNNING"]);

  function init() {
    const view = document.getElementById("log-view");
    const list = document.getElementById("attempt-log");
    if (!view || !list) return;
    const url = view.dataset.logUrl;
    const state = {
      start: Number(view.dataset.start || 0),
      end: Number(view.dataset.end || 0),
      firstLine: Number(view.dataset.firstLine || 1),
      nextLine: Number(view.dataset.nextLine || 1),
    };
    const search = setUpSearch(list, url, state);
    setUpTimes(view);
    setUpEarlier(list, url, state, search);
    // a link to a line (#L120) shows that line; otherwise the log's end, where errors are
    const line = /^#L\d+$/.test(window.location.hash)
      ? document.getElementById(window.location.hash.slice(1))
      : null;
    if (line) line.scrollIntoView({ block: "center" });
    else list.scrollTop = list.scrollHeight;
    if (view.dataset.follow === "true") follow(list, url, state, search);
  }

  async function fetchLines(url) {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new Error(`${response.status}`);
    const html = await response.text();
    const h = (name) => response.headers.get(name) || "";
    return {
      html,
      start: Number(h("X-Start")),
      end: Number(h("X-End")),
      firstLine: Number(h("X-First-Line")),
      nextLine: Number(h("X-Next-Line")),
      status: h("X-Attempt-Status"),
    };
  }

  // -- load earlier ------------------------------------------------------------------------------
  function setUpEarlier(list, url, state, search) {
    const row = document.getElementById("log-earlier-row");
    const button = document.getElementById("log-earlier");
    const left = document.getElementById("log-left");
    if (!row || !button || !left) return;
    const show = () => {
      row.hidden = state.start <= 0;
      left.textContent = `${state.start.toLocaleString("en")} earlier bytes not shown.`;
    };
    button.hidden = false;
    show();
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const got = await fetchLines(`${url}/lines?before=${state.start}&line=${state.firstLine}`);
        const height = list.scrollHeight;
        const top = list.scrollTop;
        list.insertAdjacentHTML("afterbegin", got.html);
        list.scrollTop = top + (list.scrollHeight - height);
        state.start = got.start;
        state.firstLine = got.firstLine;
        search.refresh();
      } catch (e) {
        left.textContent = "Could not load the earlier lines; try again.";
      }
      button.disabled = false;
      show();
      if (row.hidden) list.focus();
    });
  }

  // -- follow ------------------------------------------------------------------------------------
  function follow(list, url, state, search) {
    const label = document.getElementById("log-state");
    async function tick() {
      let more = true;
      try {
        const got = await fetchLines(`${url}/lines?after=${state.end}&line=${state.nextLine}`);
        const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
        if (got.html.trim()) {
          const empty = document.getElementById("log-empty");
          if (empty) empty.remove();
          const before = list.lastElementChild;
          list.insertAdjacentHTML("beforeend", got.html);
          search.addLines(before ? before.nextElementSibling : list.firstElementChild);
          if (atBottom) list.scrollTop = list.scrollHeight;
        }
        const moved = got.end > state.end;
        state.end = got.end;
        state.nextLine = got.nextLine;
        if (!RUNNING.has(got.status) && !moved) {
          more = false;
          if (label) label.textContent = got.status.toLowerCase().replace("_", " ");
          window.location.reload(); // the attempt's final status, exit code, error
        }
      } catch (e) {
        // try again
      }
      if (more) setTimeout(tick, LOG_EVERY);
    }
    setTimeout(tick, LOG_EVERY);
  }

  // -- times -------------------------------------------------------------------------------------
  function setUpTimes(view) {
    const box = document.getElementById("log-times");
    if (!box) return;
    // a phone has little room: times start hidden there
    box.checked = !window.matchMedia("(max-width: 700px)").matches;
    const apply = () => view.classList.toggle("no-times", !box.checked);
    box.addEventListener("change", apply);
    apply();
  }

  // -- find --------------------------------------------------------------------------------------
  function setUpSearch(list, url, state) {
    const form = document.getElementById("log-search");
    const input = document.getElementById("log-q");
    const count = document.getElementById("log-count");
    const prev = document.getElementById("log-prev");
    const next = document.getElementById("log-next");
    const none = { refresh() {}, addLines() {} };
    if (!form || !input || !count || !prev || !next) return none;
    form.hidden = false;
    let marks = [];
    let current = -1;
    let timer = null;
    let searched = "";
    let earlier = 0; // matches before the first line loaded (asked of the server)
    let asked = 0;

    async function countEarlier() {
      const needle = input.value;
      const ticket = ++asked;
      earlier = 0;
      if (!needle || state.start <= 0) return show();
      try {
        const response = await fetch(
          `${url}/count?q=${encodeURIComponent(needle)}&end=${state.start}`,
          { credentials: "same-origin", cache: "no-store" },
        );
        if (response.ok && ticket === asked) {
          earlier = Number(await response.text()) || 0;
          show();
        }
      } catch (e) {
        // the count of the earlier part is a hint: without it the search still works
      }
    }

    function clear() {
      list.querySelectorAll("mark").forEach((mark) => {
        const parent = mark.parentNode;
        parent.replaceChild(document.createTextNode(mark.textContent), mark);
        parent.normalize();
      });
      list.querySelectorAll("li.hit-line").forEach((li) => li.classList.remove("hit-line"));
      marks = [];
      current = -1;
    }

    function highlight(texts, needle) {
      const found = [];
      const lower = needle.toLowerCase();
      texts.forEach((tx) => {
        const walker = document.createTreeWalker(tx, NodeFilter.SHOW_TEXT);
        const nodes = [];
        while (walker.nextNode()) nodes.push(walker.currentNode);
        nodes.forEach((node) => {
          const text = node.nodeValue;
          const hay = text.toLowerCase();
          let at = hay.indexOf(lower);
          if (at < 0) return;
          const pieces = document.createDocumentFragment();
          let from = 0;
          while (at >= 0) {
            if (at > from) pieces.append(document.createTextNode(text.slice(from, at)));
            const mark = document.createElement("mark");
            mark.textContent = text.slice(at, at + needle.length);
            pieces.append(mark);
            found.push(mark);
            from = at + needle.length;
            at = hay.indexOf(lower, from);
          }
          if (from < text.length) pieces.append(document.createTextNode(text.slice(from)));
          node.parentNode.replaceChild(pieces, node);
        });
      });
      return found;
    }

    function show() {
      const needle = input.value;
      const more = earlier ? ` · ${earlier.toLocaleString("en")} earlier` : "";
      if (!needle) count.textContent = "";
      else if (!marks.length) count.textContent = `no match${more ? " shown" + more : ""}`;
      else count.textContent = `${current + 1} of ${marks.length}${more}`;
      prev.disabled = next.disabled = marks.length === 0;
    }

    function go(index, scroll) {
      if (!marks.length) return show();
      if (current >= 0 && marks[current]) {
        marks[current].classList.remove("current");
        marks[current].closest("li").classList.remove("hit-line");
      }
      current = (index + marks.length) % marks.length;
      const mark = marks[current];
      mark.classList.add("current");
      mark.closest("li").classList.add("hit-line");
      if (scroll) mark.scrollIntoView({ block: "center", inline: "nearest" });
      show();
    }

    function run(keepPlace) {
      const old = current >= 0 && marks[current] ? marks[current].closest("li") : null;
      clear();
      countEarlier();
      const needle = input.value;
      searched = needle;
      if (needle) marks = highlight(list.querySelectorAll(".tx"), needle);
      if (!marks.length) return show();
      // stay at the same line when the lines change under the search; else the last match
      // (the log is read from its end)
      let index = marks.length - 1;
      if (keepPlace && old) {
        const same = marks.findIndex((m) => m.closest("li").id === old.id);
        if (same >= 0) index = same;
      }
      go(index, !keepPlace);
    }

    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => run(false), 150);
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        clearTimeout(timer);
        if (searched !== input.value) run(false);
        else go(current + (event.shiftKey ? -1 : 1), true);
      } else if (event.key === "Escape") {
        input.value = "";
        clear();
        countEarlier();
      }
    });
    form.addEventListener("submit", (event) => event.preventDefault());
    prev.addEventListener("click", () => go(current - 1, true));
    next.addEventListener("click", () => go(current + 1, true));
    document.addEventListener("keydown", (event) => {
      const typing = /^(INPUT|TEXTAREA|SELECT)$/.test((document.activeElement || {}).tagName);
      if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
        event.preventDefault();
        input.focus();
      }
    });
    show();

    return {
      refresh() {
        if (input.value) run(true);
      },
      addLines(first) {
        // new lines at the end: highlight them too, the current match stays
        if (!input.value || !first) return;
        const texts = [];
        for (let li = first; li; li = li.nextElementSibling) {
          const tx = li.querySelector(".tx");
          if (tx) texts.push(tx);
        }
        marks = marks.concat(highlight(texts, input.value));
        if (current < 0 && marks.length) go(0, false);
        else show();
      },
    };
  }

  // after maestro.js's own DOMContentLoaded handler (which scrolls the log to its end)
  if (document.readyState === "complete") init();
  else document.addEventListener("DOMContentLoaded", init);
})();
