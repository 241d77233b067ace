//! The demo's printout: each line stamped with the simulated time, messages indented under who
//! posted them, objects as YAML.

use std::io::Write;

use crate::clock::Clock;

pub struct Transcript<'a> {
    out: &'a mut (dyn Write + Send),
    clock: std::sync::Arc<dyn Clock>,
}

impl<'a> Transcript<'a> {
    pub fn new(out: &'a mut (dyn Write + Send), clock: std::sync::Arc<dyn Clock>) -> Self {
        Transcript { out, clock }
    }

    fn stamp(&self) -> String {
        self.clock.now().format("%H:%M:%S").to_string()
    }

    pub fn line(&mut self, text: &str) -> anyhow::Result<()> {
        writeln!(self.out, "{text}")?;
        self.out.flush()?;
        Ok(())
    }

    pub fn section(&mut self, name: &str) -> anyhow::Result<()> {
        self.line("")?;
        self.line(&format!("== {name}"))
    }

    pub fn event(&mut self, text: &str) -> anyhow::Result<()> {
        let stamp = self.stamp();
        self.line(&format!("[{stamp}] {text}"))
    }

    pub fn says(&mut self, who: &str, what: &str) -> anyhow::Result<()> {
        self.event(&format!("{who}: {what}"))
    }

    pub fn bot_to(&mut self, whom: &str, text: &str) -> anyhow::Result<()> {
        self.event(&format!("prod-access → {whom}:"))?;
        self.indented(text)
    }

    pub fn posted(&mut self, place: &str, text: &str, buttons: &str) -> anyhow::Result<()> {
        self.event(&format!("prod-access in {place}:"))?;
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
