//! The demo's printout: each line stamped with the simulated time, messages indented under who
//! posted them, objects as YAML. Its own words come from templates/cli/demo.txt.

use std::io::Write;

use minijinja::{Environment, Value, context};

use crate::clock::Clock;

const WORDS: &str = include_str!("../../../templates/cli/demo.txt");

pub struct Transcript<'a> {
    out: &'a mut (dyn Write + Send),
    clock: std::sync::Arc<dyn Clock>,
    words: Environment<'static>,
}

impl<'a> Transcript<'a> {
    pub fn new(
        out: &'a mut (dyn Write + Send),
        clock: std::sync::Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let mut words = Environment::new();
        words.add_template("demo", WORDS)?;
        Ok(Transcript { out, clock, words })
    }

    /// The sentence `line` of templates/cli/demo.txt, with `values` in it.
    pub fn words(&self, line: &str, values: Value) -> anyhow::Result<String> {
        let text = self
            .words
            .get_template("demo")?
            .render(context! { line, ..values })?;
        anyhow::ensure!(
            !text.is_empty(),
            "templates/cli/demo.txt has no line `{line}`"
        );
        Ok(text)
    }

    fn stamp(&self) -> String {
        self.clock.now().format("%H:%M:%S").to_string()
    }

    pub fn line(&mut self, text: &str) -> anyhow::Result<()> {
        writeln!(self.out, "{text}")?;
        self.out.flush()?;
        Ok(())
    }

    /// Says `line` of the words on a line of its own.
    pub fn say(&mut self, line: &str, values: Value) -> anyhow::Result<()> {
        let text = self.words(line, values)?;
        self.line(&text)
    }

    /// Says `line` of the words indented, as an item under the scene.
    pub fn item(&mut self, line: &str, values: Value) -> anyhow::Result<()> {
        let text = self.words(line, values)?;
        self.line(&format!("  {text}"))
    }

    /// Starts the scene `line` names.
    pub fn scene(&mut self, line: &str) -> anyhow::Result<()> {
        let name = self.words(line, context! {})?;
        self.line("")?;
        self.line(&format!("== {name}"))
    }

    pub fn event(&mut self, text: &str) -> anyhow::Result<()> {
        let stamp = self.stamp();
        self.line(&format!("[{stamp}] {text}"))
    }

    /// What happened, in the words of `line`.
    pub fn happened(&mut self, line: &str, values: Value) -> anyhow::Result<()> {
        let text = self.words(line, values)?;
        self.event(&text)
    }

    pub fn says(&mut self, who: &str, what: &str) -> anyhow::Result<()> {
        self.event(&format!("{who}: {what}"))
    }

    pub fn bot_to(&mut self, whom: &str, text: &str) -> anyhow::Result<()> {
        let heading = self.words("bot_to", context! { whom })?;
        self.event(&heading)?;
        self.indented(text)
    }

    pub fn posted(&mut self, place: &str, text: &str, buttons: &str) -> anyhow::Result<()> {
        let heading = self.words("posted_in", context! { place })?;
        self.event(&heading)?;
        self.indented(text)?;
        if !buttons.is_empty() {
            self.indented(buttons)?;
        }
        Ok(())
    }

    pub fn yaml(&mut self, title: &str, value: &serde_json::Value) -> anyhow::Result<()> {
        self.event(title)?;
        let text = serde_saphyr::to_string(value)?;
        self.indented(text.trim_end())
    }

    fn indented(&mut self, text: &str) -> anyhow::Result<()> {
        for line in text.lines() {
            self.line(&format!("      {line}"))?;
        }
        Ok(())
    }
}
