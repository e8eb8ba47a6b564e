//! `--tui`: a full-screen live view of the run (ratatui), drawn from the per-second
//! source ([`super::live::Feed`]): rates, latency, outcomes, in flight, send lag, the
//! generator's busyness, progress and the top errors. `q`, Esc or Ctrl-C stop the run
//! gracefully (a second Ctrl-C ends the grace period); `l` switches the latency scale.
//!
//! The terminal is restored on every way out: the end of the run, an error, and a panic
//! (ratatui's hook restores it before the panic message; the run goes on without the view
//! and still ends with its report).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use loadgen::engine::live::Second;
use loadgen::{Outcome, Stopper};
use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{
    Axis, Block, Chart, Dataset, Gauge, GraphType, LegendPosition, Paragraph, Row, Table,
};

use super::live::{Labels, State};

/// Seconds the charts show.
const WINDOW: usize = 120;

/// What the keys stop: a run (q: stop, a second Ctrl-C: abort), or `loadgen watch`.
pub trait Quit: Send + 'static {
    /// q, Esc or Ctrl-C.
    fn stop(&self);
    /// Ctrl-C while stopping.
    fn abort(&self);
}

impl Quit for Stopper {
    fn stop(&self) {
        Stopper::stop(self);
    }
    fn abort(&self) {
        Stopper::abort(self);
    }
}

/// The dashboard, drawn by its own thread until [`Tui::finish`].
pub struct Tui {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Tui {
    /// Takes over the terminal and draws `state` until the run ends.
    pub fn start(
        state: Arc<Mutex<State>>,
        labels: Labels,
        stopper: impl Quit,
    ) -> anyhow::Result<Tui> {
        let terminal = ratatui::try_init()
            .map_err(|e| anyhow::anyhow!("--tui: cannot use the terminal: {e}"))?;
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let thread = std::thread::Builder::new()
            .name("loadgen-tui".into())
            .spawn(move || {
                let r = run(terminal, &state, &labels, &stopper, &d);
                ratatui::restore();
                r
            })?;
        Ok(Tui {
            done,
            thread: Some(thread),
        })
    }

    /// The run ended: the view closes and the terminal is as it was.
    pub fn finish(mut self) {
        self.close();
    }

    fn close(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take()
            && let Ok(Err(e)) = t.join()
        {
            crate::note!("loadgen: --tui: {e}");
        }
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        self.close();
    }
}

/// What the keys changed.
#[derive(Default)]
struct View {
    log_latency: bool,
    stopping: bool,
}

fn run(
    mut terminal: ratatui::DefaultTerminal,
    state: &Mutex<State>,
    labels: &Labels,
    stopper: &impl Quit,
    done: &AtomicBool,
) -> std::io::Result<()> {
    let mut view = View::default();
    // a test of the way out through a panic (tests/watch.rs)
    let panic_at = std::env::var_os("LOADGEN_TEST_TUI_PANIC").map(|_| 3u32);
    let mut frames = 0u32;
    while !done.load(Ordering::Relaxed) {
        frames += 1;
        if panic_at == Some(frames) {
            panic!("LOADGEN_TEST_TUI_PANIC: the dashboard fails on purpose");
        }
        {
            let s = state.lock().unwrap_or_else(|p| p.into_inner());
            terminal.draw(|f| draw(f, &s, labels, &view))?;
        }
        if event::poll(Duration::from_millis(200))? {
            let Event::Key(k) = event::read()? else {
                continue;
            };
            if k.kind != KeyEventKind::Press {
                continue;
            }
            let ctrl_c =
                k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
            match k.code {
                _ if ctrl_c && view.stopping => stopper.abort(),
                KeyCode::Char('q') | KeyCode::Esc => {
                    view.stopping = true;
                    stopper.stop();
                }
                _ if ctrl_c => {
                    view.stopping = true;
                    stopper.stop();
                }
                KeyCode::Char('l') => view.log_latency = !view.log_latency,
                _ => {}
            }
        }
    }
    Ok(())
}

fn draw(f: &mut Frame, s: &State, labels: &Labels, view: &View) {
    let [head, rates, latency, bottom, keys] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Fill(1),
        Constraint::Fill(1),
        Constraint::Length(14),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let elapsed = s
        .last
        .as_ref()
        .map_or(Duration::ZERO, |l| l.snapshot.elapsed);
    let total = labels.total.max(Duration::from_millis(1));
    let ratio = (elapsed.as_secs_f64() / total.as_secs_f64()).clamp(0.0, 1.0);
    let title = format!(
        " loadgen → {}{}  shard {} ",
        labels.targets.first().map_or("", String::as_str),
        if labels.targets.len() > 1 {
            format!(" (+{})", labels.targets.len() - 1)
        } else {
            String::new()
        },
        labels.shard
    );
    let label = format!(
        "{:.1} s of {:.0} s{}",
        elapsed.as_secs_f64(),
        total.as_secs_f64(),
        if view.stopping {
            "  — stopping (Ctrl-C again: cancel in-flight calls)"
        } else {
            ""
        }
    );
    f.render_widget(
        Gauge::default()
            .block(Block::bordered().title(title))
            .gauge_style(Style::default().fg(Color::Green))
            .ratio(ratio)
            .label(label),
        head,
    );
    let seconds: Vec<&Second> = s.seconds.iter().rev().take(WINDOW).rev().collect();
    let x = |sec: &Second| sec.at.as_secs_f64();
    let series = |get: &dyn Fn(&Second) -> f64| -> Vec<(f64, f64)> {
        seconds.iter().map(|sec| (x(sec), get(sec))).collect()
    };
    let offered = series(&|s| s.rates().0);
    let done_ = series(&|s| s.rates().1);
    let tps = series(&|s| s.rates().2);
    let (x0, x1) = (
        seconds.first().map_or(0.0, |s| x(s) - 1.0),
        seconds.last().map_or(1.0, |s| x(s)).max(1.0),
    );
    let top = offered
        .iter()
        .chain(&done_)
        .chain(&tps)
        .map(|p| p.1)
        .fold(1.0, f64::max)
        * 1.1;
    let (o, d, t) = (&offered[..], &done_[..], &tps[..]);
    let axis_x = || {
        Axis::default()
            .bounds([x0, x1])
            .labels([format!("{x0:.0}s"), format!("{x1:.0}s")])
    };
    f.render_widget(
        chart(
            vec![
                ds("offered", o, Color::Cyan),
                ds("throughput", d, Color::Yellow),
                ds("TPS", t, Color::Green),
            ],
            " loads per second ".into(),
        )
        .x_axis(axis_x())
        .y_axis(
            Axis::default()
                .bounds([0.0, top])
                .labels(["0".to_string(), format!("{top:.0}")]),
        ),
        rates,
    );
    let ms = |us: u64| us as f64 / 1000.0;
    let scale = |v: f64| {
        if view.log_latency {
            (v.max(0.001)).log10()
        } else {
            v
        }
    };
    let p50 = series(&|s| scale(ms(s.latency_us[0])));
    let p99 = series(&|s| scale(ms(s.latency_us[1])));
    let max = series(&|s| scale(ms(s.latency_us[2])));
    let hi = max
        .iter()
        .map(|p| p.1)
        .fold(if view.log_latency { 0.0 } else { 1.0 }, f64::max)
        * 1.1;
    let lo = if view.log_latency { -3.0 } else { 0.0 };
    let ylabel = |v: f64| {
        if view.log_latency {
            format!("{:.3}ms", 10f64.powf(v))
        } else {
            format!("{v:.1}ms")
        }
    };
    let (a, b, c) = (&p50[..], &p99[..], &max[..]);
    f.render_widget(
        chart(
            vec![
                ds("p50", a, Color::Green),
                ds("p99", b, Color::Yellow),
                ds("max", c, Color::Red),
            ],
            format!(
                " latency of the answered loads, ms ({} scale) ",
                if view.log_latency { "log" } else { "linear" }
            ),
        )
        .x_axis(axis_x())
        .y_axis(
            Axis::default()
                .bounds([lo, hi])
                .labels([ylabel(lo), ylabel(hi)]),
        ),
        latency,
    );
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(bottom);
    outcomes(f, left, s);
    if labels.steps.is_empty() {
        errors(f, right, s);
    } else {
        let [top, low] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(5)]).areas(right);
        steps(f, top, s, labels);
        errors(f, low, s);
    }
    f.render_widget(
        Paragraph::new(Line::from(
            " q / Esc / Ctrl-C: stop (the report is still written)   l: latency scale ",
        )),
        keys,
    );
}

/// A chart with its legend at the top left, shown whatever the area.
fn chart<'a>(data: Vec<Dataset<'a>>, title: String) -> Chart<'a> {
    Chart::new(data)
        .block(Block::bordered().title(title))
        .legend_position(Some(LegendPosition::TopLeft))
        .hidden_legend_constraints((Constraint::Percentage(100), Constraint::Percentage(100)))
}

fn ds<'a>(name: &'a str, data: &'a [(f64, f64)], c: Color) -> Dataset<'a> {
    Dataset::default()
        .name(name)
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(Style::default().fg(c))
        .data(data)
}

fn outcomes(f: &mut Frame, area: Rect, s: &State) {
    let Some(l) = &s.last else {
        f.render_widget(Block::bordered().title(" outcomes "), area);
        return;
    };
    let last = s.seconds.back();
    let mut rows: Vec<Row> = Outcome::ALL
        .iter()
        .map(|&o| {
            Row::new(vec![
                o.name().to_string(),
                l.counts.get(o).to_string(),
                last.map_or(0, |sec| sec.bucket.outcomes[o]).to_string(),
            ])
        })
        .collect();
    rows.push(Row::new(vec![
        "in flight".into(),
        l.snapshot.in_flight.to_string(),
        String::new(),
    ]));
    rows.push(Row::new(vec![
        "send lag p99".into(),
        String::new(),
        last.map_or(String::new(), |sec| {
            format!("{:.2} ms", sec.lag_p99_us as f64 / 1000.0)
        }),
    ]));
    rows.push(Row::new(vec![
        "generator busy".into(),
        String::new(),
        last.map_or(String::new(), |sec| format!("{:.0} %", sec.busy * 100.0)),
    ]));
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(16),
                Constraint::Length(12),
                Constraint::Length(12),
            ],
        )
        .header(Row::new(vec!["", "total", "last second"]).style(Style::default().fg(Color::Cyan)))
        .block(Block::bordered().title(" outcomes ")),
        area,
    );
}

/// The journeys' steps: runs and success so far, runs and response time in the last
/// second.
fn steps(f: &mut Frame, area: Rect, s: &State, labels: &Labels) {
    let last = s.seconds.back();
    let totals = s.last.as_ref().and_then(|l| l.journeys.as_ref());
    let rows: Vec<Row> = labels
        .steps
        .iter()
        .enumerate()
        .map(|(i, info)| {
            let (runs, ok) = totals
                .and_then(|j| j.steps.get(i))
                .map_or((0, 0), |st| (st.runs(), st.outcomes[Outcome::Success]));
            let sec = last.and_then(|sec| sec.steps.get(i));
            let ms = |us: u64| format!("{:.1}", us as f64 / 1000.0);
            Row::new(vec![
                info.name.clone(),
                runs.to_string(),
                if runs == 0 {
                    "\u{2013}".into()
                } else {
                    format!("{:.1}%", ok as f64 * 100.0 / runs as f64)
                },
                sec.map_or(0, |(r, _)| r.total()).to_string(),
                sec.map_or(String::new(), |(_, p)| ms(p[0])),
                sec.map_or(String::new(), |(_, p)| ms(p[1])),
            ])
        })
        .collect();
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Fill(1),
                Constraint::Length(9),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(8),
            ],
        )
        .header(
            Row::new(vec![
                "step", "runs", "success", "last s", "p50 ms", "p99 ms",
            ])
            .style(Style::default().fg(Color::Cyan)),
        )
        .block(Block::bordered().title(" journey steps ")),
        area,
    );
}

fn errors(f: &mut Frame, area: Rect, s: &State) {
    let lines: Vec<Line> = s
        .last
        .iter()
        .flat_map(|l| l.errors.iter())
        .map(|(o, m, n)| {
            let m = loadgen::report::term::clean(m);
            Line::from(format!("{n:>9}  {}  {m}", o.name()))
        })
        .collect();
    let lines = if lines.is_empty() {
        vec![Line::from("none")]
    } else {
        lines
    };
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" top errors ")),
        area,
    );
}
