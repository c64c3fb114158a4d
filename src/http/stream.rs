//! Response bodies written by blocking code (a tar archive built from a
//! store snapshot), sent as they are written: never whole in memory.

use std::io::{self, Write};

use axum::body::{Body, Bytes};
use tokio::sync::mpsc;

/// Chunks handed to the connection at a time.
const CHUNK: usize = 64 * 1024;
/// Chunks that may wait for a slow reader before the writer waits too.
const QUEUED_CHUNKS: usize = 4;

/// A body that `write` produces on a blocking thread. If `write` fails
/// part-way, the body ends with an error, so the client sees a broken
/// transfer instead of a short file that looks whole.
pub fn from_blocking_writer<F>(write: F) -> Body
where
    F: FnOnce(&mut dyn Write) -> Result<(), crate::error::Error> + Send + 'static,
{
    let (sender, receiver) = mpsc::channel::<io::Result<Bytes>>(QUEUED_CHUNKS);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            sender,
            buffer: Vec::with_capacity(CHUNK),
        };
        let written = write(&mut out).and_then(|()| out.flush().map_err(internal));
        if let Err(error) = written {
            if out.sender.is_closed() {
                // The client went away: nothing is wrong here.
                return;
            }
            error.log_if_internal();
            let _ = out
                .sender
                .blocking_send(Err(io::Error::other("the archive could not be completed")));
        }
    });
    let chunks = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    // The body may be polled again after its end (a browser's download
    // does); a fused stream keeps answering "ended" instead of panicking.
    Body::from_stream(futures_util::StreamExt::fuse(chunks))
}

fn internal(error: io::Error) -> crate::error::Error {
    crate::error::Error::Internal(Box::new(error))
}

struct ChannelWriter {
    sender: mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
}

impl ChannelWriter {
    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.send_buffer()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer()
    }
}
