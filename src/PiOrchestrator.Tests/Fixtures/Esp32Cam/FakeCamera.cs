using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace PiOrchestrator.Tests.Fixtures;

/// <summary>
/// An ESP32-CAM running arduino-esp32's CameraWebServer example (app_httpd.cpp) on ESP-IDF's esp_http_server and the
/// esp32-camera driver, over raw sockets on loopback: one server task serving one request at a time, the socket limit
/// and backlog, the firmware's header limits, the LED wait and the driver's frame buffers. It can misbehave on purpose
/// (<see cref="Mode"/>). Every setting can be changed while it runs.
/// </summary>
public sealed partial class FakeCamera : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<ServedFrame> _served = new();
    private readonly ConcurrentQueue<DateTimeOffset> _requests = new();
    private readonly long _bootTimestamp = Stopwatch.GetTimestamp();
    private readonly Random _grabRandom;
    private readonly int _seed;
    private Task _server = Task.CompletedTask;

    private FakeCamera(Socket listener, int seed)
    {
        _listener = listener;
        _seed = seed;
        _grabRandom = new Random(seed);
        BootedAt = DateTimeOffset.UtcNow;
        Port = ((IPEndPoint)listener.LocalEndPoint!).Port;
    }

    public CameraMode Mode { get; set; } = CameraMode.Healthy;
    public byte[] CustomFrame { get; set; } = [];
    public string RedirectTo { get; set; } = "";
    /// <summary>A <c>/status</c> body that never ends (it stops when the client goes away or stops reading for the send timeout).</summary>
    public bool EndlessStatus { get; set; }
    public TimeSpan SlowDelay { get; set; } = TimeSpan.FromMilliseconds(300);
    /// <summary>The next this many captures wait <see cref="SlowDelay"/> first (as <see cref="CameraMode.Slow"/>), whatever the mode.</summary>
    public int SlowNextGrabs { get => Volatile.Read(ref _slowNextGrabs); set => Volatile.Write(ref _slowNextGrabs, value); }
    private int _slowNextGrabs;
    /// <summary>Slow captures begun, and those whose client left before the delay was over.</summary>
    public int SlowGrabsStarted => Volatile.Read(ref _slowGrabsStarted);
    public int SlowGrabsAbandoned => Volatile.Read(ref _slowGrabsAbandoned);
    private int _slowGrabsStarted;
    private int _slowGrabsAbandoned;

    private bool TakeSlowGrab()
    {
        int left;
        do
        {
            left = Volatile.Read(ref _slowNextGrabs);
            if (left <= 0) return false;
        }
        while (Interlocked.CompareExchange(ref _slowNextGrabs, left - 1, left) != left);
        return true;
    }
    public int Port { get; }
    public string Url => $"http://127.0.0.1:{Port}";

    public CameraFirmware Firmware { get; set; } = CameraFirmware.Arduino3;
    /// <summary>esp_http_server.h HTTPD_DEFAULT_CONFIG max_open_sockets.</summary>
    public int MaxOpenSockets { get; set; } = 7;
    /// <summary>HTTPD_DEFAULT_CONFIG backlog_conn, given to listen() (httpd_main.c httpd_server_init); Linux takes a new listen() at any time.</summary>
    public int Backlog
    {
        get;
        set
        {
            _listener.Listen(value);
            field = value;
        }
    } = 5;
    /// <summary>HTTPD_DEFAULT_CONFIG recv_wait_timeout (5 s), set as SO_RCVTIMEO in httpd_main.c httpd_accept_conn.</summary>
    public TimeSpan ReceiveTimeout { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>HTTPD_DEFAULT_CONFIG send_wait_timeout (5 s), set as SO_SNDTIMEO in httpd_main.c httpd_accept_conn.</summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>app_httpd.cpp capture_handler: vTaskDelay(150 / portTICK_PERIOD_MS) between enable_led(true) and esp_camera_fb_get().</summary>
    public TimeSpan LedDelay { get; set; } = TimeSpan.FromMilliseconds(150);
    /// <summary>esp32-camera driver/esp_camera.c FB_GET_TIMEOUT (4000 ms): how long esp_camera_fb_get() waits before it returns NULL.</summary>
    public TimeSpan GrabTimeout { get; set; } = TimeSpan.FromSeconds(4);
    /// <summary>The next N grabs fail (each after <see cref="GrabTimeout"/>, then 500 and close).</summary>
    public int FailNextGrabs { get; set; }
    /// <summary>The share of grabs that fail (0..1), drawn from a Random seeded with the camera's seed.</summary>
    public double GrabFailureRate { get; set; }

    /// <summary>
    /// True (an AI-Thinker board): CameraWebServer.ino with psramFound() sets fb_count 2 and CAMERA_GRAB_LATEST, so a grab
    /// returns a frame taken at the grab. False: fb_count 1, CAMERA_GRAB_WHEN_EMPTY, so a grab returns the frame the
    /// driver took as soon as the previous grab gave its buffer back (cam_hal.c cam_take / cam_give), which is stale.
    /// </summary>
    public bool Psram { get; set; } = true;
    /// <summary>CameraWebServer.ino sets FRAMESIZE_QVGA after init; /control?var=framesize changes it.</summary>
    public FrameSize FrameSize { get; set; } = FrameSize.QVGA;
    /// <summary>OV2640 quality (0-63, lower is better): CameraWebServer.ino uses 10 with PSRAM, 12 without. Reported by /status only.</summary>
    public int Quality { get; set; } = 10;
    /// <summary>A sensor format other than JPEG makes capture_handler convert the frame (frame2jpg_cb) and send it chunked.</summary>
    public SensorPixelFormat PixelFormat { get; set; } = SensorPixelFormat.Jpeg;
    /// <summary>The Wi-Fi link's rate: every answer is paced to it. 0 is unlimited.</summary>
    public long LinkBitsPerSecond { get; set; }

    /// <summary>The camera's boot: X-Timestamp counts from here (esp_timer_get_time).</summary>
    public DateTimeOffset BootedAt { get; }
    public int CaptureRequests => _requests.Count;
    public IReadOnlyCollection<DateTimeOffset> RequestTimes => _requests;

    /// <summary>The most /capture requests outstanding at once: the one being served plus those already sent on other connections and waiting.</summary>
    public int MaxConcurrent => Volatile.Read(ref _maxConcurrent);
    private int _maxConcurrent;

    /// <summary>Accepted connections open now (at most <see cref="MaxOpenSockets"/>).</summary>
    public int OpenSockets => Volatile.Read(ref _openSockets);
    private int _openSockets;

    public int FailedGrabs => Volatile.Read(ref _failedGrabs);
    private int _failedGrabs;

    /// <summary>sha256 (hex) of every complete frame served, in order.</summary>
    public IReadOnlyList<string> ServedSha256 => _served.Select(f => f.Sha256).ToList();
    /// <summary>Every complete frame served, in order, with when it was asked for, taken and sent.</summary>
    public IReadOnlyList<ServedFrame> ServedFrames => _served.ToList();
    /// <summary>Whether the frame with this sha256 was taken before its request arrived; null if no such frame was served.</summary>
    public bool? IsStale(string sha256) => _served.FirstOrDefault(f => f.Sha256 == sha256)?.Stale;

    public static async Task<FakeCamera> StartAsync(int seed = 1, int port = 0)
    {
        var camera = new FakeCamera(Bind(port), seed * 1000);
        camera.Backlog = 5;
        camera._server = Task.Run(() => camera.RunAsync(camera._stop.Token));
        await Task.Yield();
        return camera;
    }

    private static Socket Bind(int port)
    {
        // A port from TestPorts, not one the kernel picks (see TestPorts); a port taken since it was offered is retried.
        for (var attempt = 0; ; attempt++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            try
            {
                socket.Bind(new IPEndPoint(IPAddress.Loopback, port == 0 ? TestPorts.Free() : port));
                return socket;
            }
            catch (SocketException) when (port == 0 && attempt < 20)
            {
                socket.Dispose();
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
    }

    /// <summary>
    /// <paramref name="count"/> keep-alive clients, like browser tabs on the camera's page: each connects, asks
    /// <c>GET /status</c>, reads the answer and stays connected, idle, until disposed. Each takes one of the camera's
    /// sockets, so count must not exceed the free ones.
    /// </summary>
    public async Task<IAsyncDisposable> OccupySocketsAsync(int count)
    {
        var clients = new SocketClients();
        try
        {
            for (var i = 0; i < count; i++)
            {
                var client = new TcpClient();
                clients.Add(client);
                await client.ConnectAsync(IPAddress.Loopback, Port);
                var stream = client.GetStream();
                await stream.WriteAsync("GET /status HTTP/1.1\r\nHost: esp32-cam\r\nAccept: application/json\r\n\r\n"u8.ToArray());
                using var answered = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await ReadOneAnswerAsync(stream, answered.Token);
            }
            return clients;
        }
        catch
        {
            await clients.DisposeAsync();
            throw;
        }
    }

    private static async Task ReadOneAnswerAsync(NetworkStream stream, CancellationToken ct)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (head.Count < 4 || head[^4] != '\r' || head[^3] != '\n' || head[^2] != '\r' || head[^1] != '\n')
        {
            if (await stream.ReadAsync(one, ct) == 0) throw new IOException("the camera closed the connection");
            head.Add(one[0]);
        }
        var text = Encoding.ASCII.GetString([.. head]);
        var length = text.Split("\r\n").Where(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            .Select(l => int.Parse(l["Content-Length:".Length..].Trim())).Single();
        await stream.ReadExactlyAsync(new byte[length], ct);
    }

    private sealed class SocketClients : List<TcpClient>, IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            foreach (var client in this) client.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private DateTimeOffset Now(out TimeSpan sinceBoot)
    {
        sinceBoot = Stopwatch.GetElapsedTime(_bootTimestamp);
        return BootedAt + sinceBoot;
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        _listener.Dispose();
        try
        {
            await _server;
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
    }
}
