using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Capture;

public partial class TestCameraFidelityTests
{
    private sealed record Answer(int Status, Dictionary<string, string> Headers, byte[] Body, List<int> ChunkSizes, TimeSpan Transfer)
    {
        public string Text => Encoding.ASCII.GetString(Body);
    }

    /// <summary>HTTP/1.1 by hand over one TCP connection: requests as written, answers read byte by byte as they come.</summary>
    private sealed class RawClient : IDisposable
    {
        private readonly TcpClient _tcp;
        private readonly NetworkStream _stream;
        private readonly byte[] _one = new byte[1];

        private RawClient(TcpClient tcp)
        {
            _tcp = tcp;
            _stream = tcp.GetStream();
        }

        public static async Task<RawClient> ConnectAsync(FakeCamera camera)
        {
            var tcp = new TcpClient { NoDelay = true };
            await tcp.ConnectAsync(IPAddress.Loopback, camera.Port);
            return new RawClient(tcp);
        }

        public int Available => _tcp.Client.Available;

        public Task SendAsync(string request) => _stream.WriteAsync(Encoding.ASCII.GetBytes(request)).AsTask();

        public async Task<Answer> ReadAnswerAsync(TimeSpan? timeout = null)
        {
            using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
            var ct = cts.Token;
            var statusLine = await ReadLineAsync(ct);
            var started = Stopwatch.GetTimestamp();
            var status = int.Parse(statusLine.Split(' ')[1], CultureInfo.InvariantCulture);
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            for (var line = await ReadLineAsync(ct); line.Length > 0; line = await ReadLineAsync(ct))
            {
                var colon = line.IndexOf(':');
                headers[line[..colon]] = line[(colon + 1)..].Trim();
            }
            var chunks = new List<int>();
            byte[] body;
            if (headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding == "chunked")
            {
                using var collected = new MemoryStream();
                while (true)
                {
                    var size = int.Parse(await ReadLineAsync(ct), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    if (size == 0)
                    {
                        await ReadLineAsync(ct);
                        break;
                    }
                    chunks.Add(size);
                    var chunk = new byte[size];
                    await _stream.ReadExactlyAsync(chunk, ct);
                    collected.Write(chunk);
                    await ReadLineAsync(ct);
                }
                body = collected.ToArray();
            }
            else
            {
                body = new byte[int.Parse(headers["Content-Length"], CultureInfo.InvariantCulture)];
                await _stream.ReadExactlyAsync(body, ct);
            }
            return new Answer(status, headers, body, chunks, Stopwatch.GetElapsedTime(started));
        }

        public async Task<string> ReadExactAsciiAsync(int count)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var bytes = new byte[count];
            await _stream.ReadExactlyAsync(bytes, cts.Token);
            return Encoding.ASCII.GetString(bytes);
        }

        /// <summary>Whether the first byte of an answer arrives within the window (it is left unread).</summary>
        public async Task<bool> AnswerStartsWithinAsync(TimeSpan window)
        {
            using var cts = new CancellationTokenSource(window);
            try
            {
                await _tcp.Client.ReceiveAsync(new byte[1], SocketFlags.Peek, cts.Token);
                return true;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        /// <summary>Whether the camera closes the connection within the window.</summary>
        public async Task<bool> ClosedWithinAsync(TimeSpan window)
        {
            using var cts = new CancellationTokenSource(window);
            try
            {
                return await _tcp.Client.ReceiveAsync(new byte[1], SocketFlags.Peek, cts.Token) == 0;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
            catch (SocketException)
            {
                return true;
            }
        }

        private async Task<string> ReadLineAsync(CancellationToken ct)
        {
            var line = new StringBuilder();
            while (true)
            {
                if (await _stream.ReadAsync(_one, ct) == 0) throw new IOException($"connection closed after \"{line}\"");
                if (_one[0] == '\n') return line.ToString().TrimEnd('\r');
                line.Append((char)_one[0]);
            }
        }

        public void Dispose() => _tcp.Dispose();
    }
}
