//! Progress of long commands, on stderr. On a terminal: a bar per stage with its count, rate and
//! time left (indicatif). Anywhere else (CI logs, pipes): plain lines — when a stage starts,
//! every ten seconds while it runs, and when it ends — so a log says how far a job got.
//! Every stage that ends leaves a line saying what it did and how long it took.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indexer::JobStatus;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use knowledge::views::{StageView, duration};

/// How often a plain line repeats while a stage runs.
const EVERY: Duration = Duration::from_secs(10);

pub struct Progress {
    terminal: bool,
    bar: Option<ProgressBar>,
    /// The stage shown: its latest state, and when it began here.
    stage: Option<(StageView, Instant)>,
    last_line: Instant,
}

impl Progress {
    /// Bars when stderr is a terminal, lines otherwise.
    pub fn on_stderr() -> Progress {
        Progress {
            terminal: std::io::stderr().is_terminal(),
            bar: None,
            stage: None,
            last_line: Instant::now(),
        }
    }

    /// Shows where an index job is.
    pub fn job(&mut self, status: &JobStatus) {
        match StageView::of(status) {
            Some(stage) => self.show(stage, None),
            // Queued, or over: nothing counts.
            None => self.end(),
        }
    }

    /// Shows a stage that counts time only (a scan), against how long it took last time.
    pub fn timed(&mut self, name: &str, started: Instant, expected: Option<Duration>) {
        let elapsed = started.elapsed();
        let stage = StageView {
            name: name.to_owned(),
            unit: "s".to_owned(),
            done: elapsed.as_secs(),
            total: expected.map_or(0, |e| e.as_secs().max(1)),
            per_second: None,
            eta_secs: expected.map(|e| e.saturating_sub(elapsed).as_secs()),
        };
        self.show(stage, expected);
    }

    fn show(&mut self, stage: StageView, expected: Option<Duration>) {
        if self.stage.as_ref().is_none_or(|(shown, _)| shown.name != stage.name) {
            self.end();
            self.begin(&stage, expected);
        }
        match &self.bar {
            Some(bar) => {
                if stage.total > 0 {
                    bar.set_length(stage.total);
                }
                bar.set_position(stage.done);
            }
            None if self.last_line.elapsed() >= EVERY => {
                eprintln!("{}", line(&stage));
                self.last_line = Instant::now();
            }
            None => {}
        }
        if let Some((shown, _)) = &mut self.stage {
            *shown = stage;
        }
    }

    fn begin(&mut self, stage: &StageView, expected: Option<Duration>) {
        self.stage = Some((stage.clone(), Instant::now()));
        if !self.terminal {
            let mut first = match stage.done + stage.total {
                0 => format!("{}: started", stage.name),
                _ => line(stage),
            };
            if let Some(expected) = expected {
                first += &format!(" (the last one took {})", duration(expected.as_secs()));
            }
            eprintln!("{first}");
            self.last_line = Instant::now();
            return;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let template = match (stage.unit.as_str(), expected) {
            // Time against the last run's: the bar fills as that time passes.
            ("s", Some(_)) => "{prefix:>9.bold} [{bar:30.cyan/blue}] {elapsed} of about {len}s",
            ("s", None) => "{prefix:>9.bold} {spinner} {elapsed}",
            _ => "{prefix:>9.bold} [{bar:30.cyan/blue}] {pos}/{len} {msg}, {rate}, {eta} left",
        };
        let style = ProgressStyle::with_template(template)
            .expect("the templates are valid")
            .with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.1}/s", state.per_sec());
            })
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(stage.name.clone());
        bar.set_message(stage.unit.clone());
        bar.enable_steady_tick(Duration::from_millis(200));
        self.bar = Some(bar);
    }

    /// Ends the stage shown with a line saying what it did and how long it took.
    pub fn end(&mut self) {
        let Some((stage, started)) = self.stage.take() else { return };
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let took = started.elapsed().as_secs_f64();
        let took = if took < 10.0 { format!("{took:.1} s") } else { duration(took as u64) };
        match stage.unit.as_str() {
            "s" => eprintln!("{}: done in {took}", stage.name),
            unit => eprintln!("{}: {} {unit} in {took}", stage.name, stage.done),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// `parsing: 120/480 files, 95.3/s, about 4 s left`, or `scanning: 20 s, about 40 s left`.
fn line(stage: &StageView) -> String {
    let described = stage.describe();
    let rest = described.strip_prefix(&stage.name).unwrap_or(&described).trim_start();
    if stage.unit == "s" {
        let eta =
            stage.eta_secs.map(|s| format!(", about {} left", duration(s))).unwrap_or_default();
        return format!("{}: {} s{eta}", stage.name, stage.done);
    }
    format!("{}: {rest}", stage.name)
}
