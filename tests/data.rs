//! Data: the IDX reader and MNIST checks on damaged files, batch iteration and splits,
//! the downloader against a server on the loopback interface, and the synthetic sets.

mod common;

use std::io::{Read, Write};
use wgnn::data::{synthetic, Dataset, Mnist, MNIST_FILES};
use wgnn::{Device, Error, Tensor};

fn data_error(result: Result<Mnist, Error>) -> String {
    match result {
        Err(Error::Data { file, message }) => format!("{file}: {message}"),
        Err(other) => panic!("expected a data error, got {other}"),
        Ok(_) => panic!("expected a data error, got a dataset"),
    }
}

#[test]
fn damaged_mnist_files_give_errors_naming_the_file_and_the_fault() {
    let dir = common::scratch_dir("test-damaged");
    common::write_mnist(&dir, 2, &[1, 2, 3]);
    let ok = Mnist::load_from(&dir).unwrap();
    assert_eq!((ok.train.len(), ok.train.image_dims), (3, [2, 2]));

    // A label over 9.
    common::write_mnist(&dir, 2, &[1, 12, 3]);
    assert!(data_error(Mnist::load_from(&dir)).contains("label 1 is 12"));
    // Counts that disagree.
    common::write_mnist(&dir, 2, &[1, 2, 3]);
    std::fs::write(
        dir.join("train-labels-idx1-ubyte"),
        common::idx_file(&[2], &[1, 2]),
    )
    .unwrap();
    assert!(data_error(Mnist::load_from(&dir)).contains("2 labels for 3 images"));
    // Swapped: labels where the images belong.
    std::fs::write(
        dir.join("train-images-idx3-ubyte"),
        common::idx_file(&[3], &[1, 2, 3]),
    )
    .unwrap();
    assert!(data_error(Mnist::load_from(&dir)).contains("a label file?"));
    // Truncated.
    let mut cut = common::idx_file(&[3, 2, 2], &[0; 12]);
    cut.truncate(cut.len() - 1);
    std::fs::write(dir.join("train-images-idx3-ubyte"), cut).unwrap();
    assert!(data_error(Mnist::load_from(&dir)).contains("truncated"));
    // Wrong magic.
    std::fs::write(dir.join("train-images-idx3-ubyte"), b"PK\x03\x04 not idx").unwrap();
    assert!(data_error(Mnist::load_from(&dir)).contains("magic"));
    // A gzip file that is cut short.
    std::fs::remove_file(dir.join("train-images-idx3-ubyte")).unwrap();
    std::fs::write(
        dir.join("train-images-idx3-ubyte.gz"),
        [0x1f, 0x8b, 8, 0, 1, 2, 3],
    )
    .unwrap();
    assert!(data_error(Mnist::load_from(&dir)).contains("damaged gzip"));
    // A .gz that is not gzip at all: an HTML page a failed download saved.
    std::fs::write(
        dir.join("train-images-idx3-ubyte.gz"),
        b"<html><body>404 Not Found</body></html>",
    )
    .unwrap();
    let error = data_error(Mnist::load_from(&dir));
    assert!(
        error.contains("train-images-idx3-ubyte.gz") && error.contains("neither gzip"),
        "{error}"
    );
    // Missing.
    std::fs::remove_file(dir.join("train-images-idx3-ubyte.gz")).unwrap();
    assert!(data_error(Mnist::load_from(&dir)).contains("missing"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gzipped_files_are_read() {
    let dir = common::scratch_dir("test-gz");
    common::write_mnist(&dir, 2, &[4, 5]);
    for (name, _) in MNIST_FILES {
        let raw = std::fs::read(dir.join(name)).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        std::fs::write(dir.join(format!("{name}.gz")), gz.finish().unwrap()).unwrap();
        std::fs::remove_file(dir.join(name)).unwrap();
    }
    assert_eq!(Mnist::load_from(&dir).unwrap().test.labels, vec![4, 5]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_pass_visits_every_sample_once_in_a_seeded_order() {
    let devices = common::devices();
    for d in &devices {
        let n = 23;
        let x = Tensor::arange(0.0, n as f32, 1.0, d)
            .unwrap()
            .reshape(&[n, 1])
            .unwrap();
        let data = Dataset::from_tensors(x.clone(), x.reshape(&[n]).unwrap()).unwrap();
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        for batch in data.batches(5, Some(7), false).unwrap() {
            let (bx, by) = batch.unwrap();
            assert_eq!(
                bx.reshape(&[bx.dims()[0]]).unwrap().to_vec().unwrap(),
                by.to_vec().unwrap()
            );
            sizes.push(by.numel());
            seen.extend(by.to_vec().unwrap());
        }
        assert_eq!(sizes, vec![5, 5, 5, 5, 3]);
        let mut sorted = seen.clone();
        sorted.sort_by(f32::total_cmp);
        assert_eq!(sorted, (0..n).map(|i| i as f32).collect::<Vec<_>>());
        assert_ne!(seen, sorted, "shuffled");
        let again: Vec<f32> = data
            .batches(5, Some(7), false)
            .unwrap()
            .flat_map(|b| b.unwrap().1.to_vec().unwrap())
            .collect();
        assert_eq!(seen, again, "same seed, same order");
        assert_eq!(data.batches(5, None, true).unwrap().count(), 4, "drop_last");
        assert!(data.batches(0, None, false).is_err());
        let (train, val) = data.split(0.2).unwrap();
        assert_eq!((train.len(), val.len()), (18, 5));
        let val_rows: Vec<f32> = val
            .batches(100, None, false)
            .unwrap()
            .flat_map(|b| b.unwrap().1.to_vec().unwrap())
            .collect();
        assert_eq!(
            val_rows,
            vec![18.0, 19.0, 20.0, 21.0, 22.0],
            "the last fraction, as Keras"
        );
        assert!(data.split(1.5).is_err());
        assert_eq!(data.take(4).len(), 4);
    }
}

/// A batch's samples and targets on the host: (dims, values) each.
type HostBatch = ((Vec<usize>, Vec<f32>), (Vec<usize>, Vec<f32>));

/// Every batch of a seeded pass over `data`, as host values.
fn pass(data: &Dataset, batch: usize) -> Vec<HostBatch> {
    data.batches(batch, Some(11), false)
        .unwrap()
        .map(|b| {
            let (x, y) = b.unwrap();
            (
                (x.dims().to_vec(), x.to_vec().unwrap()),
                (y.dims().to_vec(), y.to_vec().unwrap()),
            )
        })
        .collect()
}

#[test]
fn a_gpu_batch_of_samples_and_targets_matches_the_cpu_one() {
    let Some(gpu) = common::gpu() else { return };
    let cpu = Device::cpu();
    // f32 samples of 3x5 values with (N, 3) targets; bytes in rows of 7 (rows start
    // anywhere inside a 32-bit word) with (N) labels.
    let n = 37;
    let values: Vec<f32> = (0..n * 15).map(|i| (i as f32 * 0.37).sin()).collect();
    let targets: Vec<f32> = (0..n * 3).map(|i| (i % 5) as f32 - 1.5).collect();
    let bytes: Vec<u8> = (0..n * 7).map(|i| (i * 31 % 256) as u8).collect();
    let labels: Vec<f32> = (0..n).map(|i| (i % 10) as f32).collect();
    let sets = |d: &Device| {
        let x = Tensor::from_vec(values.clone(), &[n, 3, 5], d).unwrap();
        let t = Tensor::from_vec(targets.clone(), &[n, 3], d).unwrap();
        let b = wgnn::ByteTensor::from_bytes(bytes.clone(), d).unwrap();
        let l = Tensor::from_vec(labels.clone(), &[n], d).unwrap();
        (
            Dataset::from_tensors(x, t).unwrap(),
            Dataset::from_bytes(b, &[7], 0.5, l).unwrap(),
        )
    };
    let (gpu_f32, gpu_u8) = sets(&gpu);
    let (cpu_f32, cpu_u8) = sets(&cpu);
    assert_eq!(pass(&gpu_f32, 6), pass(&cpu_f32, 6));
    assert_eq!(pass(&gpu_u8, 5), pass(&cpu_u8, 5));
}

#[test]
fn u8_images_are_scaled_on_the_device() {
    let devices = common::devices();
    for d in &devices {
        let dir = common::scratch_dir(&format!("test-u8{}", d.is_gpu()));
        common::write_mnist(&dir, 2, &[0, 1, 2]);
        let mnist = Mnist::load_from(&dir).unwrap();
        let data = mnist.train.dataset(&[4], d).unwrap();
        let (x, y) = data
            .batches(3, None, false)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(x.dims(), &[3, 4]);
        assert!(x
            .to_vec()
            .unwrap()
            .iter()
            .all(|&v| (v - 7.0 / 255.0).abs() < 1e-7));
        assert_eq!(y.to_vec().unwrap(), vec![0.0, 1.0, 2.0]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Serves `files` over HTTP/1.1 on 127.0.0.1 for `requests` requests, then stops.
fn serve(files: Vec<(String, Vec<u8>)>, requests: usize) -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = request
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_string();
            match files.iter().find(|(name, _)| *name == path) {
                Some((_, body)) => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream
                        .write_all(head.as_bytes())
                        .and_then(|_| stream.write_all(body));
                }
                None => {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        }
    });
    (base, handle)
}

#[test]
fn missing_files_are_downloaded_with_md5_checks() {
    let real = common::mnist_dir();
    let files: Vec<(String, Vec<u8>)> = MNIST_FILES
        .iter()
        .map(|(name, _)| {
            let file = format!("{name}.gz");
            let bytes = std::fs::read(real.join(&file))
                .unwrap_or_else(|e| panic!("the real {file} in {}: {e}", real.display()));
            (file, bytes)
        })
        .collect();
    // A damaged copy of the first file: its MD5 check must fail and nothing be left behind.
    let mut damaged = files.clone();
    damaged[0].1[100] ^= 0xff;
    let (base, server) = serve(damaged, 1);
    let dir = common::scratch_dir("test-download");
    let message = Mnist::download(&dir, &[base]).unwrap_err().to_string();
    assert!(message.contains("MD5"), "{message}");
    assert!(!dir.join("train-images-idx3-ubyte.gz").exists());
    assert!(!dir.join("train-images-idx3-ubyte.gz.part").exists());
    server.join().unwrap();

    // The search downloads into the first folder when no folder holds the files.
    let (base, server) = serve(files, 4);
    let empty = common::scratch_dir("test-download-empty");
    let mnist = Mnist::search(&[dir.clone(), empty.clone()], &[base]).unwrap();
    server.join().unwrap();
    assert_eq!(mnist.dir, dir);
    assert_eq!((mnist.train.len(), mnist.test.len()), (60_000, 10_000));
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn offline_the_error_says_where_to_put_the_files() {
    let (base, server) = serve(Vec::new(), 1); // answers 404
    let dir = common::scratch_dir("test-offline");
    let message = data_error(Mnist::search(std::slice::from_ref(&dir), &[base]));
    server.join().unwrap();
    let place = dir.display().to_string();
    assert!(
        message.contains("Put the four files") && message.contains(&place),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_search_takes_the_first_folder_holding_all_four_files() {
    let partial = common::scratch_dir("test-search-partial");
    common::write_mnist(&partial, 2, &[1, 2, 3]);
    std::fs::remove_file(partial.join("t10k-labels-idx1-ubyte")).unwrap();
    let complete = common::scratch_dir("test-search-complete");
    common::write_mnist(&complete, 2, &[4, 5]);
    // No mirror answers (port 9): finding the files must not need one.
    let nowhere = ["http://127.0.0.1:9/".to_string()];
    let mnist = Mnist::search(&[partial.clone(), complete.clone()], &nowhere).unwrap();
    assert_eq!(mnist.dir, complete);
    assert_eq!(mnist.test.labels, vec![4, 5]);
    assert!(Mnist::search(&[], &nowhere).is_err());
    let _ = std::fs::remove_dir_all(&partial);
    let _ = std::fs::remove_dir_all(&complete);
}

#[test]
fn a_named_folder_is_used_or_the_error_names_what_it_lacks() {
    // The search path (data/mnist/ beside the tests, or $MNIST_DIR) holds the real MNIST, so
    // any fallback from the named folder would succeed and fail this test.
    assert!(Mnist::load(None).is_ok(), "the search path must hold MNIST");
    let dir = common::scratch_dir("test-named-folder");
    common::write_mnist(&dir, 2, &[1, 2, 3]);
    assert_eq!(Mnist::load(Some(&dir)).unwrap().train.labels, vec![1, 2, 3]);

    std::fs::remove_file(dir.join("train-labels-idx1-ubyte")).unwrap();
    std::fs::remove_file(dir.join("t10k-images-idx3-ubyte")).unwrap();
    let error = data_error(Mnist::load(Some(&dir)));
    assert!(
        error.contains("train-labels-idx1-ubyte")
            && error.contains("t10k-images-idx3-ubyte")
            && !error.contains("train-images-idx3-ubyte")
            && error.contains(&dir.display().to_string()),
        "{error}"
    );
    let file = dir.join("train-images-idx3-ubyte");
    let error = data_error(Mnist::load(Some(&file)));
    assert!(error.contains("is a file, expected the folder"), "{error}");
    let error = data_error(Mnist::load(Some(&dir.join("nowhere"))));
    assert!(error.contains("no such folder"), "{error}");
    // Nothing was downloaded into the named folder.
    assert!(!dir.join("train-labels-idx1-ubyte.gz").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn synthetic_sets_have_their_shapes_and_labels() {
    let d = Device::Cpu;
    let circles = synthetic::circles(200, 0.5, 0.05, 1, &d).unwrap();
    assert_eq!(circles.len(), 200);
    assert_eq!(circles.sample_dims(), &[2]);
    let (x, y) = circles
        .batches(200, None, false)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let (x, y) = (x.to_vec().unwrap(), y.to_vec().unwrap());
    for (p, label) in x.chunks(2).zip(&y) {
        let r = (p[0] * p[0] + p[1] * p[1]).sqrt();
        assert!(
            if *label == 0.0 { r > 0.75 } else { r < 0.75 },
            "radius {r} label {label}"
        );
    }
    assert_eq!(y.iter().filter(|&&l| l == 1.0).count(), 100);
    assert_eq!(synthetic::moons(101, 0.1, 2, &d).unwrap().len(), 101);
    assert_eq!(synthetic::xor(&d).unwrap().len(), 4);
    assert_eq!(synthetic::ice_cream(50, 3, &d).unwrap().sample_dims(), &[1]);
    assert!(synthetic::circles(10, 1.5, 0.1, 0, &d).is_err());
    assert!(synthetic::moons(1, 0.1, 0, &d).is_err());
}

#[test]
fn a_digit_reads_the_same_dark_on_light_light_on_dark_or_transparent() {
    let dir = common::scratch_dir("test-digit");
    // A thick bar, off centre, on a 60x40 canvas.
    let stroke = |x: u32, y: u32| (20..28).contains(&x) && (5..30).contains(&y);
    let light = image::GrayImage::from_fn(60, 40, |x, y| {
        image::Luma([if stroke(x, y) { 0 } else { 255 }])
    });
    let dark = image::GrayImage::from_fn(60, 40, |x, y| {
        image::Luma([if stroke(x, y) { 255 } else { 0 }])
    });
    let clear = image::RgbaImage::from_fn(60, 40, |x, y| {
        image::Rgba(if stroke(x, y) {
            [0, 0, 0, 255]
        } else {
            [0, 0, 0, 0]
        })
    });
    light.save(dir.join("light.png")).unwrap();
    dark.save(dir.join("dark.png")).unwrap();
    clear.save(dir.join("clear.png")).unwrap();
    let read = |name: &str| {
        wgnn::data::read_digit(dir.join(name), &Device::Cpu)
            .unwrap()
            .to_vec()
            .unwrap()
    };
    let reference = read("dark.png");
    assert_eq!(read("light.png"), reference);
    assert_eq!(read("clear.png"), reference);
    // Scaled to 20 rows, centred: 20 rows of ink, none near the top or bottom edges.
    let row_has_ink = |r: usize| reference[r * 28..(r + 1) * 28].iter().any(|&v| v > 0.5);
    assert_eq!((0..28).filter(|&r| row_has_ink(r)).count(), 20);
    assert!(!(0..4).chain(25..28).any(row_has_ink));
    let column_mass: f32 = (0..28 * 28)
        .map(|i| reference[i] * (i % 28) as f32)
        .sum::<f32>()
        / reference.iter().sum::<f32>();
    assert!(
        (column_mass - 14.0).abs() <= 1.0,
        "centre of mass at column {column_mass}"
    );

    let blank = image::GrayImage::from_pixel(30, 30, image::Luma([255]));
    blank.save(dir.join("blank.png")).unwrap();
    let err = wgnn::data::read_digit(dir.join("blank.png"), &Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("blank"), "{err}");
    std::fs::write(dir.join("text.png"), b"not a picture").unwrap();
    let err = wgnn::data::read_digit(dir.join("text.png"), &Device::Cpu).unwrap_err();
    assert!(
        err.to_string()
            .contains("text.png: could not read the image"),
        "{err}"
    );
}
