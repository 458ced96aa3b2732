/** The console's stylesheet (served as `dashboard/assets/console.css`). */
export const consoleStyle = String.raw`
body{font:14px system-ui,sans-serif;margin:0;color:#222}header{background:#1f2d3d;color:#fff;padding:.5rem 1.2rem;display:flex;gap:1.2rem;align-items:center;flex-wrap:wrap}
header h1{font-size:1.1rem;margin:0}header nav a{color:#cfe0f5;margin-right:.8rem;text-decoration:none}header nav a.current{color:#fff;font-weight:700;border-bottom:2px solid #7fb3ef}
header form{margin-left:auto;color:#cfe0f5}main{padding:1rem 1.2rem}h2{font-size:1.05rem;margin:1.2rem 0 .4rem}h3{font-size:.95rem;margin:1rem 0 .3rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4;font-weight:600;white-space:nowrap}th.sortable{cursor:pointer;color:#1d5fa8}th.sorted::after{content:' \25BE'}th.sorted.asc::after{content:' \25B4'}
td.num,th.num{text-align:right}a{color:#1d5fa8}
.bar{background:#eee;width:120px;height:10px;display:inline-block;margin-right:6px}.bar i{display:block;height:10px;background:#3a7}
.figures{display:flex;gap:1rem;margin:.6rem 0;flex-wrap:wrap}.figures div{background:#f4f6f8;border-radius:6px;padding:.4rem .9rem;min-width:6rem}
.figures b{display:block;font-size:1.4rem}.badge{border-radius:4px;padding:1px 6px;font-size:12px;color:#fff;background:#888;white-space:nowrap}
.badge.succeeded,.badge.online{background:#2a8a4a}.badge.failed,.badge.offline{background:#c0392b}.badge.rejected{background:#d35400}.badge.cancelled{background:#7f8c8d}
.badge.running{background:#2c6fbb}.badge.queued,.badge.retrying{background:#8e6fbf}.badge.paused,.badge.draining{background:#b7950b}
#notice{color:#a00;white-space:pre-wrap;margin:.3rem 0}#state{color:#9fb3c8}form{margin:.3rem 0}input,select{margin-right:.4rem}
.detail{font-size:12px;color:#555}.muted{color:#888}.pager{margin:.5rem 0;display:flex;gap:.6rem;align-items:center}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.4rem 0}dl.kv dt{color:#666}dl.kv dd{margin:0;word-break:break-all}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:1rem}.chart{border:1px solid #e3e3e3;border-radius:6px;padding:.5rem}
.chart h3{margin:0 0 .3rem}.chart svg{width:100%;height:160px}.chart .legend span{margin-right:.8rem;font-size:12px}
.chart .legend i{display:inline-block;width:10px;height:10px;margin-right:4px}.actions button{margin-right:.3rem}
.timeline td{font-size:13px}.timeline tr.attempt td{background:#f4f6f8;font-weight:600}
`;
