//! Figures like the course's matplotlib ones, drawn with the plotters crate as PNG or SVG
//! (chosen by the file's extension): loss and accuracy curves per epoch, training and
//! validation, and the decision boundary of a classifier of 2-D points.
//!
//! ```no_run
//! # fn main() -> wgnn::Result<()> {
//! # let history = wgnn::train::History::default();
//! wgnn::plot::history(&history, "curves.png")?; // or "curves.svg"
//! # Ok(())
//! # }
//! ```

use crate::autograd::no_grad;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::nn::Module;
use crate::tensor::Tensor;
use crate::train::{predict, History};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// The font every figure uses, embedded so that drawing needs no system fonts.
const FONT: &str = "wgnn-sans";
/// Training and validation colours (matplotlib's first two).
const TRAINING: RGBColor = RGBColor(31, 119, 180);
const VALIDATION: RGBColor = RGBColor(255, 127, 14);
/// Class colours of the decision-boundary plot: points, and the lighter regions.
const CLASSES: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The embedded font is known good; a failure would only leave text undrawn.
        let _ = plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

/// A figure that can be drawn on any plotters backend.
trait Figure {
    /// The canvas size in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws the figure.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult;
}

type DrawResult = std::result::Result<(), String>;

/// plotters' error as text.
fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Draws `figure` on `backend` and writes the result out.
fn draw_and_save<DB: DrawingBackend>(figure: &impl Figure, backend: DB) -> DrawResult {
    let root = backend.into_drawing_area();
    figure.draw(&root)?;
    root.present().map_err(text)
}

/// Draws `figure` into `path` as PNG or SVG.
fn render(figure: &impl Figure, path: &Path) -> Result<()> {
    register_font();
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let drawn = match extension.as_str() {
        "png" => draw_and_save(figure, BitMapBackend::new(path, figure.size())),
        "svg" => draw_and_save(figure, SVGBackend::new(path, figure.size())),
        other => {
            return Err(Error::invalid(
                "plot",
                format!(
                    "the file must end in .png or .svg, got {other:?} in {}",
                    path.display()
                ),
            ))
        }
    };
    drawn.map_err(|e| Error::data(path.display(), format!("could not draw the figure: {e}")))
}

/// Draws the loss (and, for classifiers, the accuracy) per epoch, training and validation,
/// side by side, into `path` (.png or .svg).
pub fn history(history: &History, path: impl AsRef<Path>) -> Result<()> {
    if history.epochs.is_empty() {
        return Err(Error::invalid(
            "plot::history",
            "the history has no epochs to draw",
        ));
    }
    render(&Curves(history), path.as_ref())
}

struct Curves<'a>(&'a History);

/// One panel: a title and its training and validation series.
struct Panel {
    title: &'static str,
    training: Vec<(f64, f64)>,
    validation: Vec<(f64, f64)>,
}

impl Curves<'_> {
    fn panels(&self) -> Vec<Panel> {
        let epochs = &self.0.epochs;
        let series = |f: &dyn Fn(&crate::train::EpochStats) -> Option<f32>| {
            epochs
                .iter()
                .filter_map(|e| f(e).map(|v| (e.epoch as f64, v as f64)))
                .filter(|(_, v)| v.is_finite())
                .collect::<Vec<_>>()
        };
        let mut panels = vec![Panel {
            title: "Loss",
            training: series(&|e| Some(e.loss)),
            validation: series(&|e| e.val_loss),
        }];
        let accuracy = Panel {
            title: "Accuracy",
            training: series(&|e| e.accuracy),
            validation: series(&|e| e.val_accuracy),
        };
        if !accuracy.training.is_empty() || !accuracy.validation.is_empty() {
            panels.push(accuracy);
        }
        panels
    }
}

impl Figure for Curves<'_> {
    fn size(&self) -> (u32, u32) {
        (560 * self.panels().len() as u32, 420)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        root.fill(&WHITE).map_err(text)?;
        let panels = self.panels();
        let areas = root.split_evenly((1, panels.len()));
        let last_epoch = self.0.epochs.iter().map(|e| e.epoch).max().unwrap_or(1) as f64;
        for (panel, area) in panels.iter().zip(&areas) {
            let values = panel.training.iter().chain(&panel.validation).map(|p| p.1);
            let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
            let (lo, hi) = if lo > hi { (0.0, 1.0) } else { (lo, hi) };
            let margin = ((hi - lo) * 0.08).max(1e-3);
            let mut chart = ChartBuilder::on(area)
                .caption(panel.title, (FONT, 22))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(0.8..last_epoch.max(1.0) + 0.2, (lo - margin)..(hi + margin))
                .map_err(text)?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .label_style((FONT, 14))
                .axis_desc_style((FONT, 16))
                .x_labels(last_epoch.min(12.0) as usize + 1)
                .x_label_formatter(&|x| {
                    let whole = (x - x.round()).abs() < 1e-6;
                    if whole {
                        format!("{x:.0}")
                    } else {
                        String::new()
                    }
                })
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(text)?;
            for (name, color, points) in [
                ("training", TRAINING, &panel.training),
                ("validation", VALIDATION, &panel.validation),
            ] {
                if points.is_empty() {
                    continue;
                }
                chart
                    .draw_series(LineSeries::new(
                        points.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(text)?
                    .label(name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                // Markers while they stay apart, as matplotlib's `-o` curves.
                if points.len() <= 50 {
                    chart
                        .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                        .map_err(text)?;
                }
            }
            chart
                .configure_series_labels()
                .label_font((FONT, 14))
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK.mix(0.3))
                .draw()
                .map_err(text)?;
        }
        Ok(())
    }
}

/// Draws the regions where `model` predicts each class over the plane around `data`'s
/// 2-D points, with the points coloured by their label, into `path` (.png or .svg). A
/// model with one output is read as a logit (class 1 when ≥ 0), a wider one by argmax.
pub fn decision_boundary(model: &dyn Module, data: &Dataset, path: impl AsRef<Path>) -> Result<()> {
    if data.sample_dims() != [2] {
        return Err(Error::shape(
            "plot::decision_boundary",
            "a dataset of 2-D points, samples of shape [2]",
            format!("{:?}", data.sample_dims()),
        ));
    }
    if data.is_empty() {
        return Err(Error::invalid(
            "plot::decision_boundary",
            "the dataset is empty",
        ));
    }
    let mut points = Vec::with_capacity(data.len());
    for batch in data.batches(1024, None, false)? {
        let (x, y) = batch?;
        let (x, y) = (x.to_vec()?, y.to_vec()?);
        points.extend(x.chunks(2).zip(y).map(|(p, label)| ((p[0], p[1]), label)));
    }
    let (mut lo, mut hi) = ((f32::MAX, f32::MAX), (f32::MIN, f32::MIN));
    for &((x, y), _) in &points {
        lo = (lo.0.min(x), lo.1.min(y));
        hi = (hi.0.max(x), hi.1.max(y));
    }
    let pad = ((hi.0 - lo.0).max(hi.1 - lo.1) * 0.1).max(0.1);
    let (lo, hi) = ((lo.0 - pad, lo.1 - pad), (hi.0 + pad, hi.1 + pad));
    let cells = GRID * GRID;
    let cell = ((hi.0 - lo.0) / GRID as f32, (hi.1 - lo.1) / GRID as f32);
    let centres: Vec<f32> = (0..cells)
        .flat_map(|i| {
            let (row, col) = (i / GRID, i % GRID);
            [
                lo.0 + (col as f32 + 0.5) * cell.0,
                lo.1 + (row as f32 + 0.5) * cell.1,
            ]
        })
        .collect();
    let device = data.device();
    let grid = Tensor::from_vec(centres, &[cells, 2], device)?;
    let out = predict(model, &grid)?;
    let classes: Vec<usize> = match out.dims() {
        [n, 1] if *n == cells => out
            .to_vec()?
            .iter()
            .map(|&v| usize::from(v >= 0.0))
            .collect(),
        [n, k] if *n == cells && *k > 1 => no_grad(|| out.argmax(-1, false))?
            .to_vec()?
            .iter()
            .map(|&v| v as usize)
            .collect(),
        _ => {
            return Err(Error::shape(
                "plot::decision_boundary",
                format!("model outputs of shape ({cells}, classes)"),
                format!("{}", out.shape()),
            ))
        }
    };
    let figure = Boundary {
        lo,
        hi,
        cell,
        classes,
        points,
    };
    render(&figure, path.as_ref())
}

/// Cells per side of the decision-boundary grid.
const GRID: usize = 150;

struct Boundary {
    lo: (f32, f32),
    hi: (f32, f32),
    cell: (f32, f32),
    classes: Vec<usize>,
    points: Vec<((f32, f32), f32)>,
}

/// (start, end, class) of each run of equal classes in a row.
fn runs(classes: &[usize]) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        let class = *classes.get(start)?;
        let length = classes[start..].iter().take_while(|&&c| c == class).count();
        let run = (start, start + length, class);
        start += length;
        Some(run)
    })
}

fn class_colour(class: usize) -> RGBColor {
    CLASSES[class % CLASSES.len()]
}

impl Figure for Boundary {
    fn size(&self) -> (u32, u32) {
        (600, 600)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        root.fill(&WHITE).map_err(text)?;
        let mut chart = ChartBuilder::on(root)
            .caption("Decision boundary", (FONT, 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(self.lo.0..self.hi.0, self.lo.1..self.hi.1)
            .map_err(text)?;
        // Each row's runs of one class as one rectangle: a small SVG, the same picture.
        let regions = self
            .classes
            .chunks(GRID)
            .enumerate()
            .flat_map(|(row, classes)| {
                let y0 = self.lo.1 + row as f32 * self.cell.1;
                runs(classes).map(move |(start, end, class)| {
                    let x0 = self.lo.0 + start as f32 * self.cell.0;
                    let x1 = self.lo.0 + end as f32 * self.cell.0;
                    Rectangle::new(
                        [(x0, y0), (x1, y0 + self.cell.1)],
                        class_colour(class).mix(0.25).filled(),
                    )
                })
            });
        chart.draw_series(regions).map_err(text)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .label_style((FONT, 14))
            .draw()
            .map_err(text)?;
        let dots = self.points.iter().map(|&(p, label)| {
            let class = label.max(0.0).round() as usize;
            Circle::new(p, 3, class_colour(class).filled())
        });
        chart.draw_series(dots).map_err(text)?;
        Ok(())
    }
}
