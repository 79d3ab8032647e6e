//! The Grafana dashboard `docs/grafana/staunch.json` against the series staunch emits: every
//! metric the board queries is one staunch emits, so the board cannot rot when a series is
//! renamed or dropped. The board also covers every series, its panels have titles and places on
//! the grid without overlapping, its queries parse as `PromQL` (with `promtool`, when found) and
//! filter by the `$instance` and `$name` variables, which exist.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;
use staunch::metrics::NAMES;

mod support;
use support::programs;

/// Columns of Grafana's grid.
const COLUMNS: u64 = 24;
/// Series rendered as histograms (or summaries, under the bare name).
const HISTOGRAMS: [&str; 1] = ["staunch_call_duration_seconds"];
/// The series a Prometheus histogram adds to its name.
const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];
/// The labels the board's variables select, each by the variable of the same name.
const VARIABLES: [&str; 2] = ["instance", "name"];

/// The board, parsed once.
fn board() -> &'static Value {
    static BOARD: OnceLock<Value> = OnceLock::new();
    BOARD.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/grafana/staunch.json");
        let text = std::fs::read_to_string(&path).expect("docs/grafana/staunch.json is readable");
        serde_json::from_str(&text).expect("docs/grafana/staunch.json is JSON")
    })
}

/// `value[key]` as an array; empty when missing.
fn array<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

fn title(panel: &Value) -> &str {
    panel.get("title").and_then(Value::as_str).unwrap_or("")
}

/// The panels of each nesting level: the board's own, then those of each row, recursively.
fn levels(board: &Value) -> Vec<Vec<&Value>> {
    let mut levels = Vec::new();
    push_level(array(board, "panels"), &mut levels);
    levels
}

fn push_level<'a>(panels: &'a [Value], levels: &mut Vec<Vec<&'a Value>>) {
    levels.push(panels.iter().collect());
    for panel in panels {
        let nested = array(panel, "panels");
        if !nested.is_empty() {
            push_level(nested, levels);
        }
    }
}

/// Every panel, rows and the panels nested in them included.
fn panels(board: &Value) -> Vec<&Value> {
    levels(board).into_iter().flatten().collect()
}

/// Each panel target's `expr`, with its panel's title.
fn panel_exprs(board: &Value) -> Vec<(&str, &str)> {
    panels(board)
        .into_iter()
        .flat_map(|panel| {
            array(panel, "targets")
                .iter()
                .filter_map(|target| target.get("expr").and_then(Value::as_str))
                .map(move |expr| (title(panel), expr))
        })
        .collect()
}

fn variables(board: &Value) -> &[Value] {
    board
        .get("templating")
        .map_or(&[][..], |t| array(t, "list"))
}

fn variable<'a>(board: &'a Value, name: &str) -> &'a Value {
    variables(board)
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(name))
        .unwrap_or_else(|| panic!("the board has a `{name}` variable"))
}

/// A variable's query: a string, or an object with a `query` field.
fn variable_query(variable: &Value) -> Option<&str> {
    let query = variable.get("query")?;
    query
        .as_str()
        .or_else(|| query.get("query").and_then(Value::as_str))
}

/// Every query of the board: the panels' exprs, the variables' queries and definitions.
fn queries(board: &Value) -> Vec<&str> {
    let panels = panel_exprs(board).into_iter().map(|(_, expr)| expr);
    let variables = variables(board).iter().flat_map(|v| {
        let definition = v.get("definition").and_then(Value::as_str);
        variable_query(v).into_iter().chain(definition)
    });
    panels.chain(variables).collect()
}

fn is_identifier(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// `text` with the inside of every double-quoted string blanked, byte for byte, so that
/// positions stay those of `text`.
fn outside_strings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut quoted, mut escaped) = (false, false);
    for c in text.chars() {
        let closing = quoted && c == '"' && !escaped;
        let blank = quoted && !closing;
        escaped = blank && c == '\\' && !escaped;
        if closing || (!quoted && c == '"') {
            quoted = !quoted;
        }
        if blank {
            out.extend(std::iter::repeat_n(' ', c.len_utf8()));
        } else {
            out.push(c);
        }
    }
    out
}

/// Each metric name `expr` uses (`staunch_...` outside strings), with the byte where it ends.
fn metric_names(expr: &str) -> Vec<(&str, usize)> {
    let code = outside_strings(expr);
    code.match_indices("staunch_")
        .filter(|&(start, _)| !code[..start].ends_with(is_identifier))
        .map(|(start, _)| {
            let end = code[start..]
                .find(|c| !is_identifier(c))
                .map_or(code.len(), |len| start + len);
            (&expr[start..end], end)
        })
        .collect()
}

/// The series a metric name of a query belongs to: a histogram's name for its `_bucket`,
/// `_sum` and `_count` series, the name itself otherwise.
fn series(metric: &str) -> &str {
    HISTOGRAMS
        .into_iter()
        .find(|histogram| {
            metric
                .strip_prefix(histogram)
                .is_some_and(|suffix| HISTOGRAM_SUFFIXES.contains(&suffix))
        })
        .unwrap_or(metric)
}

fn is_emitted(metric: &str) -> bool {
    NAMES.contains(&series(metric))
}

/// The body of the selector starting at `from` (after blanks), if one does.
fn selector_at(expr: &str, from: usize) -> Option<&str> {
    let code = outside_strings(expr);
    let open = from + (code[from..].len() - code[from..].trim_start().len());
    if !code[open..].starts_with('{') {
        return None;
    }
    let close = open + code[open..].find('}').expect("every selector is closed");
    Some(&expr[open + 1..close])
}

/// The body of every selector of `expr` (what is between `{` and `}` outside strings).
fn selectors(expr: &str) -> Vec<&str> {
    let code = outside_strings(expr);
    code.match_indices('{')
        .filter_map(|(open, _)| selector_at(expr, open))
        .collect()
}

/// A label matcher: `label op "value"`.
#[derive(Debug, PartialEq)]
struct Matcher<'a> {
    label: &'a str,
    op: &'a str,
    value: &'a str,
}

/// The matchers of a selector's body.
fn matchers(selector: &str) -> Vec<Matcher<'_>> {
    let code = outside_strings(selector);
    let mut starts = vec![0];
    starts.extend(code.match_indices(',').map(|(comma, _)| comma + 1));
    let ends = starts
        .iter()
        .skip(1)
        .map(|start| start - 1)
        .chain([code.len()]);
    starts
        .iter()
        .zip(ends)
        .map(|(&start, end)| selector[start..end].trim())
        .filter(|matcher| !matcher.is_empty())
        .map(matcher)
        .collect()
}

fn matcher(text: &str) -> Matcher<'_> {
    let label_end = text.find(|c| !is_identifier(c)).unwrap_or(text.len());
    let (label, rest) = text.split_at(label_end);
    let rest = rest.trim_start();
    let op_end = rest.find(|c| !"=!~".contains(c)).unwrap_or(rest.len());
    let (op, value) = rest.split_at(op_end);
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or_else(|| panic!("the value of `{text}` is double-quoted"));
    Matcher { label, op, value }
}

/// A panel's place on the grid, in columns and rows.
#[derive(Debug, Clone, Copy)]
struct Rect {
    x: u64,
    y: u64,
    w: u64,
    h: u64,
}

impl Rect {
    fn of(panel: &Value) -> Option<Rect> {
        let pos = panel.get("gridPos")?;
        let field = |key: &str| pos.get(key).and_then(Value::as_u64);
        Some(Rect {
            x: field("x")?,
            y: field("y")?,
            w: field("w")?,
            h: field("h")?,
        })
    }

    fn overlaps(self, other: Rect) -> bool {
        self.x < other.x + other.w
            && other.x < self.x + self.w
            && self.y < other.y + other.h
            && other.y < self.y + self.h
    }
}

fn place(panel: &Value) -> Rect {
    Rect::of(panel).unwrap_or_else(|| panic!("`{}` has a gridPos", title(panel)))
}

/// The titles of the overlapping pairs among panels of one level.
fn overlaps<'a>(level: &[&'a Value]) -> Vec<(&'a str, &'a str)> {
    let mut pairs = Vec::new();
    for (i, &a) in level.iter().enumerate() {
        for &b in &level[i + 1..] {
            if place(a).overlaps(place(b)) {
                pairs.push((title(a), title(b)));
            }
        }
    }
    pairs
}

#[test]
fn every_queried_metric_is_one_staunch_emits() {
    let unknown: Vec<_> = queries(board())
        .into_iter()
        .flat_map(metric_names)
        .map(|(metric, _)| metric)
        .filter(|metric| !is_emitted(metric))
        .collect();
    assert!(
        unknown.is_empty(),
        "the board queries series staunch does not emit: {unknown:?} (emitted: {NAMES:?})"
    );
}

#[test]
fn the_board_queries_every_series_staunch_emits() {
    let used: BTreeSet<&str> = queries(board())
        .into_iter()
        .flat_map(metric_names)
        .map(|(metric, _)| series(metric))
        .collect();
    let missing: Vec<_> = NAMES.iter().filter(|name| !used.contains(*name)).collect();
    assert!(missing.is_empty(), "no panel shows {missing:?}");
}

#[test]
fn every_panel_has_a_title_and_a_place_on_the_grid() {
    for panel in panels(board()) {
        assert!(
            !title(panel).trim().is_empty(),
            "a panel has no title: {panel}"
        );
        let rect = place(panel);
        assert!(
            rect.w > 0 && rect.h > 0 && rect.x + rect.w <= COLUMNS,
            "`{}` fits the {COLUMNS}-column grid: {rect:?}",
            title(panel)
        );
    }
}

#[test]
fn every_panel_but_rows_queries_something() {
    for panel in panels(board()) {
        if panel.get("type").and_then(Value::as_str) == Some("row") {
            continue;
        }
        let exprs: Vec<_> = array(panel, "targets")
            .iter()
            .map(|target| target.get("expr").and_then(Value::as_str).unwrap_or(""))
            .collect();
        assert!(
            !exprs.is_empty() && exprs.iter().all(|expr| !expr.trim().is_empty()),
            "`{}` has targets, each with an expr",
            title(panel)
        );
    }
}

#[test]
fn panel_ids_are_unique() {
    let mut seen = BTreeSet::new();
    for panel in panels(board()) {
        let id = panel.get("id").and_then(Value::as_u64);
        let id = id.unwrap_or_else(|| panic!("`{}` has a numeric id", title(panel)));
        assert!(seen.insert(id), "`{}` reuses id {id}", title(panel));
    }
}

#[test]
fn no_two_panels_overlap() {
    for level in levels(board()) {
        let pairs = overlaps(&level);
        assert!(pairs.is_empty(), "panels overlap on the grid: {pairs:?}");
    }
}

#[test]
fn name_and_instance_matchers_use_the_variables() {
    for query in queries(board()) {
        for selector in selectors(query) {
            for m in matchers(selector) {
                if VARIABLES.contains(&m.label) {
                    let variable = format!("${}", m.label);
                    assert!(
                        m.op == "=~" && m.value == variable,
                        "`{query}` matches {} with `{}{}\"{}\"`, not `=~\"{variable}\"`",
                        m.label,
                        m.label,
                        m.op,
                        m.value
                    );
                }
            }
        }
    }
}

#[test]
fn every_panel_query_filters_by_instance_and_name() {
    for (title, expr) in panel_exprs(board()) {
        for (metric, end) in metric_names(expr) {
            let selector = selector_at(expr, end)
                .unwrap_or_else(|| panic!("`{title}`: {metric} has a selector in `{expr}`"));
            let labels: BTreeSet<_> = matchers(selector).iter().map(|m| m.label).collect();
            assert!(
                VARIABLES.iter().all(|label| labels.contains(label)),
                "`{title}`: {metric} is filtered by {VARIABLES:?} in `{expr}`"
            );
        }
    }
}

#[test]
fn the_instance_and_name_variables_exist() {
    for name in VARIABLES {
        let variable = variable(board(), name);
        assert_eq!(variable["type"], "query", "`{name}` is a query variable");
        assert_eq!(variable["multi"], true, "`{name}` is multi-value");
        assert_eq!(variable["includeAll"], true, "`{name}` includes All");
        let query = variable_query(variable).unwrap_or("");
        assert!(
            query.starts_with("label_values(") && query.trim_end().ends_with(&format!("{name})")),
            "`{name}` lists the values of its label: `{query}`"
        );
    }
}

#[test]
fn the_board_imports_with_any_prometheus() {
    let board = board();
    assert_eq!(board["uid"], "staunch");
    assert_eq!(board["title"], "staunch");
    let datasource = variable(board, "datasource");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");
    let targets = panels(board).into_iter().flat_map(|p| array(p, "targets"));
    let sources = panels(board).into_iter().chain(targets);
    for source in sources.filter_map(|s| s.get("datasource")) {
        assert_eq!(
            source["uid"], "${datasource}",
            "a data source other than the variable"
        );
    }
}

#[test]
fn every_panel_query_parses_as_promql() {
    let Some(promtool) = programs::find("promtool", "every_panel_query_parses_as_promql") else {
        return;
    };
    let rules: Vec<Value> = panel_exprs(board())
        .into_iter()
        .enumerate()
        .map(|(i, (_, expr))| {
            let expr = expr.replace("$__rate_interval", "5m");
            serde_json::json!({ "record": format!("board:query_{i}"), "expr": expr })
        })
        .collect();
    let file = serde_json::json!({ "groups": [{ "name": "staunch-board", "rules": rules }] });
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("grafana-board-rules.yml");
    std::fs::write(&path, file.to_string()).expect("the rule file is written");
    let output = std::process::Command::new(promtool)
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .expect("promtool starts");
    assert!(
        output.status.success(),
        "promtool check rules:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_scanners_read_promql_as_written() {
    let expr = r#"rate(staunch_calls_total{name=~"staunch_x, }", instance = "a"}[1m])
        / my_staunch_y + staunch_call_duration_seconds_bucket"#;
    let names: Vec<_> = metric_names(expr).into_iter().map(|(m, _)| m).collect();
    assert_eq!(
        names,
        [
            "staunch_calls_total",
            "staunch_call_duration_seconds_bucket"
        ]
    );
    assert_eq!(series(names[1]), HISTOGRAMS[0]);
    assert!(!is_emitted("staunch_call_duration_seconds_total"));
    let found: Vec<_> = selectors(expr).into_iter().flat_map(matchers).collect();
    let expected = [
        Matcher {
            label: "name",
            op: "=~",
            value: "staunch_x, }",
        },
        Matcher {
            label: "instance",
            op: "=",
            value: "a",
        },
    ];
    assert_eq!(found, expected);
}

#[test]
fn the_walk_reaches_panels_nested_in_rows_and_finds_overlaps() {
    let board = serde_json::json!({ "panels": [
        { "title": "row", "type": "row", "gridPos": { "x": 0, "y": 0, "w": 24, "h": 1 },
          "collapsed": true, "panels": [
            { "title": "a", "gridPos": { "x": 0, "y": 1, "w": 12, "h": 8 } },
            { "title": "b", "gridPos": { "x": 11, "y": 8, "w": 13, "h": 8 } },
        ] },
        { "title": "c", "gridPos": { "x": 0, "y": 1, "w": 12, "h": 8 } },
    ] });
    let titles: Vec<_> = panels(&board).into_iter().map(title).collect();
    assert_eq!(titles, ["row", "c", "a", "b"]);
    let pairs: Vec<_> = levels(&board).iter().flat_map(|l| overlaps(l)).collect();
    assert_eq!(pairs, [("a", "b")], "only panels of one level are compared");
}
