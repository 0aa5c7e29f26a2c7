//! `--html`: the page of every command that takes it, rendered in headless
//! Chromium (the Debian package `chromium`): its title, every table
//! rendered with rows, every chart drawn with a non-zero size, no script
//! error, no console error and no blocked fetch; a phone-width screenshot
//! of each is saved under `target/html-report/` for review, and the page
//! prints to PDF. Without Chromium the browser part is skipped with a
//! note, unless MQSIM_BROWSER=required (CI sets it).

mod common;
use common::{mqsim, TempDir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("which").arg(name).output() {
            let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !path.is_empty() {
                return Some(PathBuf::from(path));
            }
        }
    }
    if std::env::var("MQSIM_BROWSER").as_deref() == Ok("required") {
        panic!("MQSIM_BROWSER=required but no chromium is installed (Debian: apt-get install chromium)");
    }
    eprintln!("note: chromium is not installed: the HTML report is not rendered in a browser (set MQSIM_BROWSER=required to fail instead)");
    None
}

/// Put before the page's Content-Security-Policy (a policy given in a meta
/// element governs only what follows it), this records script errors,
/// console errors, blocked fetches, and after loading the size of every
/// chart and table, into the body's `data-probe` for `--dump-dom`.
const PROBE: &str = r#"<script>
var probeErrors = [];
window.addEventListener('error', function (e) { probeErrors.push('error: ' + (e.message || e)); }, true);
document.addEventListener('securitypolicyviolation', function (e) { probeErrors.push('blocked: ' + e.blockedURI + ' ' + e.violatedDirective); });
var consoleError = console.error;
console.error = function () { probeErrors.push('console: ' + [].join.call(arguments, ' ')); consoleError.apply(console, arguments); };
window.addEventListener('load', function () {
  var size = function (e) { var r = e.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; };
  var charts = [].map.call(document.querySelectorAll('figure.chart'), function (f) { var s = f.querySelector('svg'); return [f.getAttribute('data-chart'), s ? size(s) : [0, 0]]; });
  var tables = [].map.call(document.querySelectorAll('table'), function (t) { return [t.getAttribute('data-table'), t.tBodies[0].rows.length, size(t)]; });
  document.body.setAttribute('data-probe', JSON.stringify({ title: document.title, charts: charts, tables: tables, errors: probeErrors, overflow: document.documentElement.scrollWidth > window.innerWidth, width: window.innerWidth }));
});
</script>
"#;

/// Runs Chromium headless on `page` with its own profile folder, and
/// waits until every process of it has ended (no stray processes).
fn headless(browser: &Path, profile: &Path, arguments: &[String], page: &Path) -> (String, String) {
    let out = Command::new("timeout")
        .arg("120")
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-crash-reporter",
            "--enable-logging=stderr",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(arguments)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    wait_for_exit(profile);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits (up to 20 s) until no process names the profile folder, then
/// reaps Chromium's helpers that outlived their parent (this test process
/// is made their subreaper, so that they do not stay as zombies of pid 1
/// where pid 1 does not reap).
fn wait_for_exit(profile: &Path) {
    let needle = profile.display().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let running = processes().any(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&needle))
                .unwrap_or(false)
        });
        let orphans: Vec<i32> = processes()
            .filter(|&pid| is_orphaned_chromium(pid))
            .collect();
        for pid in &orphans {
            let mut status = 0;
            // Only these pids: the other tests' children are theirs to wait for.
            unsafe { libc::waitpid(*pid, &mut status, libc::WNOHANG) };
        }
        if !running && orphans.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "chromium processes with the profile {needle} are still running"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn processes() -> impl Iterator<Item = i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
}

/// A Chromium process whose parent is now this test process.
fn is_orphaned_chromium(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
        return false;
    };
    let name = &stat[open + 1..close];
    let parent: Option<u32> = stat[close + 1..]
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok());
    name.contains("chrom") && parent == Some(std::process::id())
}

fn unescape(attribute: &str) -> String {
    attribute
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Checks a written page statically, then (with Chromium) renders it.
fn check_page(dir: &TempDir, page: &Path, title: &str, shot: &str) {
    let html = std::fs::read_to_string(page).expect("report.html written");
    assert!(
        html.contains(&format!("<title>{title}</title>")),
        "title: {title}"
    );
    assert!(html.contains("name=\"viewport\"") && html.contains("@media print"));
    assert!(html.contains(&format!("mqsim {}", env!("CARGO_PKG_VERSION"))));
    // Self-contained: nothing to fetch, no script of its own.
    for fetch in [" src=", " href=", "url(", "@import", "<script", "<link"] {
        assert!(
            !html.contains(fetch),
            "the page would fetch or run something: {fetch}"
        );
    }
    let tables = html.matches("<table").count();
    let charts = html.matches("<figure class=\"chart\"").count();
    let Some(browser) = chromium() else { return };
    // Chromium's helpers outlive its main process: let them be ours to reap.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let probed = dir.path(&format!("{shot}.probe.html"));
    std::fs::write(
        &probed,
        html.replacen("<head>\n", &format!("<head>\n{PROBE}"), 1),
    )
    .unwrap();
    let profile = TempDir::new("chromium-profile");
    let window = "--window-size=412,915".to_string();
    let (dom, log) = headless(
        &browser,
        &profile,
        &[window.clone(), "--dump-dom".into()],
        &probed,
    );
    let start = dom.find("data-probe=\"").expect("the probe ran") + 12;
    let probe: Value = serde_json::from_str(&unescape(
        &dom[start..start + dom[start..].find('"').unwrap()],
    ))
    .unwrap();
    assert_eq!(probe["title"].as_str(), Some(unescape(title).as_str()));
    assert_eq!(probe["errors"], serde_json::json!([]), "errors in the page");
    assert!(!log.contains("CONSOLE"), "console messages: {log}");
    assert_eq!(
        probe["overflow"], false,
        "the page is wider than a phone's screen"
    );
    let width = probe["width"].as_f64().unwrap();
    assert!(width < 600.0, "the window is a phone's ({width} px)");
    let drawn = probe["charts"].as_array().unwrap();
    assert_eq!(drawn.len(), charts, "every chart is in the rendered page");
    for chart in drawn {
        let (w, h) = (chart[1][0].as_f64().unwrap(), chart[1][1].as_f64().unwrap());
        assert!(
            w > 100.0 && h > 50.0 && w <= width,
            "chart {chart} not drawn within the phone's width {width}"
        );
    }
    let rendered = probe["tables"].as_array().unwrap();
    assert_eq!(
        rendered.len(),
        tables,
        "every table is in the rendered page"
    );
    for table in rendered {
        assert!(
            table[1].as_u64().unwrap() > 0 && table[2][1].as_f64().unwrap() > 0.0,
            "table {table} empty"
        );
    }
    // For review: the page as a phone shows it, and printed.
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/html-report");
    std::fs::create_dir_all(&target).unwrap();
    let png = target.join(format!("{shot}-phone.png"));
    let pdf = target.join(format!("{shot}.pdf"));
    headless(
        &browser,
        &profile,
        &[
            "--window-size=412,2400".into(),
            format!("--screenshot={}", png.display()),
        ],
        page,
    );
    headless(
        &browser,
        &profile,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
        ],
        page,
    );
    assert!(
        std::fs::read(&png).unwrap().starts_with(b"\x89PNG"),
        "screenshot"
    );
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF"), "printed");
}

fn run_ok(args: &[&str]) {
    let (code, _, stderr) = mqsim(args);
    assert!(code == 0, "mqsim {args:?}: {stderr}");
}

#[test]
fn compare_page_renders_with_every_chart_and_table() {
    let dir = TempDir::new("html-compare");
    let out = dir.path("out");
    let out_text = out.display().to_string();
    run_ok(&[
        "compare",
        "scenarios/retry-storm.toml",
        "-r",
        "2",
        "-q",
        "--html",
        "--out",
        &out_text,
    ]);
    let page = out.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    for part in [
        "data-table=\"comparison\"",
        "data-table=\"messages\"",
        "data-table=\"faults\"",
        "id=\"faults\"",
        "dependency-outage",
        "data-chart=\"latency-cdf\"",
        "data-chart=\"timeseries-immediate\"",
        "Scenario <code>scenarios/retry-storm.toml</code>",
        "brown-out",
        "--html",
    ] {
        assert!(html.contains(part), "the compare page lacks {part}");
    }
    assert_warnings_read_as_text(&html);
    check_page(&dir, &page, "mqsim compare: retry-storm", "compare");
}

/// A scenario name is user input: it reaches the page escaped, in the
/// title, the tables, the scenario text and the charts' SVG.
#[test]
fn run_page_escapes_the_scenario() {
    let dir = TempDir::new("html-run");
    let text = std::fs::read_to_string("scenarios/mm1.toml")
        .unwrap()
        .replacen(
            "[simulation]\n",
            "[simulation]\nname = \"<i>x</i> & <script>alert(1)</script>\"\n",
            1,
        );
    let file = dir.write("evil.toml", &text);
    let out = dir.path("out").display().to_string();
    run_ok(&[
        "run",
        &file.display().to_string(),
        "--set",
        "simulation.duration=1h",
        "-q",
        "--html",
        "--out",
        &out,
    ]);
    let page = dir.path("out/report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("<script") && !html.contains("<i>x"),
        "unescaped scenario text"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    check_page(
        &dir,
        &page,
        "mqsim run: &lt;i&gt;x&lt;/i&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;",
        "run",
    );
}

#[test]
fn sweep_check_and_optimize_pages_render() {
    let dir = TempDir::new("html-others");
    let out = |name: &str| dir.path(name).display().to_string();
    run_ok(&[
        "sweep",
        "scenarios/mm1.toml",
        "--param",
        "producer.arrival.rate",
        "--values",
        "0.5,0.7",
        "-r",
        "2",
        "--set",
        "simulation.duration=1h",
        "-q",
        "--html",
        "--out",
        &out("sweep"),
    ]);
    let sweep = std::fs::read_to_string(dir.path("sweep/report.html")).unwrap();
    assert!(
        sweep.contains("data-table=\"sweep\"")
            && sweep.contains("data-chart=\"sweep-latency_mean\"")
    );
    check_page(
        &dir,
        &dir.path("sweep/report.html"),
        "mqsim sweep: mm1",
        "sweep",
    );
    // A sweep over a scenario with a fault: its timeline (the same in
    // every cell, common random numbers) and the cells' warnings.
    run_ok(&[
        "sweep",
        "scenarios/retry-storm.toml",
        "--param",
        "producer.timeout",
        "--values",
        "1s,2s",
        "-q",
        "--html",
        "--out",
        &out("sweep-faults"),
    ]);
    let faulted = std::fs::read_to_string(dir.path("sweep-faults/report.html")).unwrap();
    assert!(
        faulted.contains("id=\"faults\"") && faulted.contains("dependency-outage"),
        "the sweep page lacks the fault timeline"
    );
    assert!(
        faulted.contains("1s; immediate: [not-drained]"),
        "{faulted}"
    );
    assert_warnings_read_as_text(&faulted);
    run_ok(&[
        "check",
        "scenarios/mm1.toml",
        "-q",
        "--html",
        "--out",
        &out("check"),
    ]);
    let check = std::fs::read_to_string(dir.path("check/report.html")).unwrap();
    assert!(check.contains("data-table=\"expectations\"") && check.contains("mean_latency_max"));
    check_page(
        &dir,
        &dir.path("check/report.html"),
        "mqsim check: mm1",
        "check",
    );
    run_ok(&[
        "optimize",
        "scenarios/mm1.toml",
        "--param",
        "consumer.count=1..3",
        "--minimize",
        "consumer.count",
        "--subject-to",
        "latency.p99 <= 10",
        "--budget",
        "40",
        "--set",
        "simulation.duration=1h",
        "-q",
        "--html",
        "--out",
        &out("optimize"),
    ]);
    let optimize = std::fs::read_to_string(dir.path("optimize/report.html")).unwrap();
    assert!(optimize.contains("data-table=\"candidates\"") && optimize.contains("[[variant]]"));
    check_page(
        &dir,
        &dir.path("optimize/report.html"),
        "mqsim optimize: mm1",
        "optimize",
    );
}

/// The page's warnings are `[code] message` lines, as the terminal shows
/// them, not the JSON objects of the summary.
fn assert_warnings_read_as_text(html: &str) {
    let start = html
        .find("<section id=\"warnings\"")
        .expect("a Warnings section");
    let section = &html[start..start + html[start..].find("</section>").unwrap()];
    let items: Vec<&str> = section.split("<li>").skip(1).collect();
    assert!(!items.is_empty(), "{section}");
    for item in items {
        let text = item.split_once(": [").map_or(item, |(_, rest)| rest);
        assert!(
            item.starts_with('[') || text != item,
            "a warning not shown as [code] message: {item}"
        );
        assert!(
            !item.contains("&quot;code"),
            "a warning shown as JSON: {item}"
        );
    }
}

/// `--html` with `--no-files` contradicts itself, and a shard writes no
/// report (its merge does).
#[test]
fn html_is_refused_where_it_would_be_ignored() {
    let (code, _, stderr) = mqsim(&["run", "scenarios/mm1.toml", "--no-files", "--html"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--html"), "{stderr}");
    let dir = TempDir::new("html-shard");
    let out = dir.path("parts").display().to_string();
    let (code, _, stderr) = mqsim(&[
        "run",
        "scenarios/mm1.toml",
        "-r",
        "2",
        "--shard",
        "1/2",
        "--html",
        "--out",
        &out,
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("mqsim merge"), "{stderr}");
}
