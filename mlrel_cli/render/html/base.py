"""What every part of the HTML report shares: escaping, status colours, the stylesheet and the one small script."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any, TypeGuard

from mlrel_cli.render.values import scrub
from mlrel_cli.report import Status

COLORS = {
    Status.FAIL: "#c62828",
    Status.INCONCLUSIVE: "#8e24aa",
    Status.WARN: "#ef6c00",
    Status.PASS: "#2e7d32",
    Status.SKIPPED: "#757575",
}
STATUS_BY_NAME = {s.value: s for s in Status}
REFERENCE, CURRENT, ONSET = "#9e9e9e", "#1565c0", "#c62828"
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em auto;max-width:1100px;color:#222;padding:0 .8em}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
h3{font-size:1em;margin:1em 0 .3em}
.badge{display:inline-block;color:#fff;border-radius:4px;padding:.1em .5em;font-weight:600;
text-transform:uppercase;font-size:.85em}
.scroll{overflow-x:auto} table{border-collapse:collapse;width:100%;font-size:.9em;margin:.6em 0}
th,td{border-bottom:1px solid #eee;padding:.3em .5em;text-align:left;vertical-align:top}
th[data-sort]{cursor:pointer;user-select:none} th[data-sort]:after{content:" \\2195";color:#aaa}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.meta{color:#666;font-size:.85em} .chart{margin:.6em 0 1.2em} .grid{display:flex;flex-wrap:wrap;gap:1em}
.card{border:1px solid #eee;border-radius:6px;padding:.5em .8em;flex:1 1 460px;min-width:0}
.filter{margin:.4em 0;display:flex;gap:.5em;flex-wrap:wrap} .filter input,.filter select{font:inherit;padding:.2em .4em}
.fill{color:#8a6d00;font-style:italic} td.strip{min-width:180px}
@media (max-width:640px){table.sortable thead{display:none}table.sortable tr{display:block;border-bottom:1px solid #ddd;
padding:.3em 0}table.sortable td{display:inline-block;border:0;padding:.15em .4em}table.sortable td.meta{display:block}}
.wide{overflow-x:auto} .wide svg{min-width:640px}
svg{max-width:100%;height:auto} svg text{font-family:system-ui,sans-serif;font-size:11px;fill:#444}
"""
# Sorts a table.sortable by the clicked column (data-v holds a sortable value) and filters it by text and status.
SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function(t){
 var body=t.tBodies[0], heads=t.tHead.rows[0].cells;
 Array.prototype.forEach.call(heads,function(th,i){ if(!th.hasAttribute('data-sort'))return;
  th.addEventListener('click',function(){ var up=th.getAttribute('data-dir')!=='asc'; th.setAttribute('data-dir',up?'asc':'desc');
   var rows=Array.prototype.slice.call(body.rows); rows.sort(function(a,b){
    var x=a.cells[i].getAttribute('data-v')||a.cells[i].textContent, y=b.cells[i].getAttribute('data-v')||b.cells[i].textContent;
    var nx=parseFloat(x), ny=parseFloat(y); var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);
    return up?c:-c;}); rows.forEach(function(r){body.appendChild(r);});});});
 var box=document.getElementById(t.id+'-q'), pick=document.getElementById(t.id+'-s');
 function apply(){ var q=(box&&box.value||'').toLowerCase(), s=pick&&pick.value||'';
  Array.prototype.forEach.call(body.rows,function(r){ var ok=r.textContent.toLowerCase().indexOf(q)>=0
   &&(!s||r.getAttribute('data-status')===s);
   r.style.display=ok?'':'none';});}
 if(box)box.addEventListener('input',apply); if(pick)pick.addEventListener('change',apply);
 t.setAttribute('data-ready','1');
});
"""


def e(value: Any) -> str:
    """Escaped for HTML; a control character from the data shows as \\x1b rather than acting."""
    return html.escape(scrub(str(value)), quote=True)


def badge(status: Status) -> str:
    return f'<span class="badge" style="background:{COLORS[status]}">{e(status.value)}</span>'


def num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def when(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def stamp(value: Any) -> str:
    t = when(value)
    return t.strftime("%Y-%m-%d %H:%M UTC") if t else ("unknown" if value is None else str(value))


def finite(value: Any) -> TypeGuard[float]:
    return value is not None and value == value and abs(value) != float("inf")


def fmt(value: float | None, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if finite(value) else "–"
