using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PiOrchestrator.Doors;
using PiOrchestrator.Native;
using PiOrchestrator.Site;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Doors;

/// <summary>
/// No GPIO chip can exist on these machines (no /dev/gpiochip*, gpio-sim cannot load), so the door source is driven
/// through its sensor interface by a simulated contact, on a fake clock. The libgpiod interop itself is tested for
/// real below: its struct layout and the error path of a chip that is not there.
/// </summary>
public class GpioDoorSourceTests
{
    private sealed class SimulatedSensor(bool initiallyOpen, string? openError = null) : IDoorSensor
    {
        private readonly BlockingCollection<DoorEdge> _edges = [];
        private int _consumed;

        public int Consumed => Volatile.Read(ref _consumed);
        public int Queued { get; private set; }

        public void Edge(bool open, DateTimeOffset at)
        {
            Queued++;
            _edges.Add(new DoorEdge(open, at));
        }

        public bool TryOpen(out string error)
        {
            error = openError ?? "";
            return openError is null;
        }

        public bool ReadIsOpen() => initiallyOpen;

        public DoorEdge? WaitForEdge(TimeSpan timeout)
        {
            if (!_edges.TryTake(out var edge, timeout)) return null;
            Interlocked.Increment(ref _consumed);
            return edge;
        }

        public void Dispose() { }
    }

    private sealed class Factory(Dictionary<string, SimulatedSensor> sensors) : IDoorSensorFactory
    {
        public IDoorSensor Create(ContainerOptions container) => sensors[container.Id];
    }

    private sealed class CapturingSink : IDoorEventSink
    {
        public ConcurrentQueue<DoorEvent> Events { get; } = new();

        public bool Post(DoorEvent doorEvent)
        {
            Events.Enqueue(doorEvent);
            return true;
        }
    }

    private static (GpioDoorSource Source, CapturingSink Sink, DoorSensorRegistry Registry) Make(ManualTimeProvider time, Dictionary<string, SimulatedSensor> sensors)
    {
        var site = new SiteOptions
        {
            Containers = sensors.Keys.Select(id => new ContainerOptions
            {
                Id = id, CameraId = "cam-" + id, CameraUrl = "http://127.0.0.1:1", Door = new DoorSensorOptions { Line = 17, DebounceMs = 50 },
            }).ToList(),
        };
        var sink = new CapturingSink();
        var registry = new DoorSensorRegistry();
        var source = new GpioDoorSource(Options.Create(site), new Factory(sensors), sink, registry, new PiOrchestrator.Systemd.LoopHeartbeats(time), time, NullLogger<GpioDoorSource>.Instance);
        return (source, sink, registry);
    }

    private static Task Consumed(SimulatedSensor sensor) =>
        Eventually.UntilAsync(() => sensor.Consumed == sensor.Queued, TimeSpan.FromSeconds(5), "the sensor thread to take every edge");

    [Fact]
    public async Task A_door_open_at_boot_starts_nothing_and_its_close_is_reported_once_stable()
    {
        var time = new ManualTimeProvider();
        var sensor = new SimulatedSensor(initiallyOpen: true);
        var (source, sink, registry) = Make(time, new() { ["ctr-001"] = sensor });
        await source.StartAsync(CancellationToken.None);
        await Eventually.UntilAsync(() => registry.Get("ctr-001")?.State == "ok", TimeSpan.FromSeconds(5), "the sensor to be ready");

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Empty(sink.Events);
        sensor.Edge(open: false, time.GetUtcNow());
        await Consumed(sensor);
        time.Advance(TimeSpan.FromMilliseconds(50));

        var closed = Assert.Single(sink.Events);
        Assert.Equal((DoorEventKind.Closed, DoorEventSource.Gpio, "ctr-001"), (closed.Kind, closed.Source, closed.ContainerId));
        await source.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_flapping_sensor_reports_nothing_until_it_settles_then_one_event()
    {
        var time = new ManualTimeProvider();
        var sensor = new SimulatedSensor(initiallyOpen: false);
        var (source, sink, registry) = Make(time, new() { ["ctr-001"] = sensor });
        await source.StartAsync(CancellationToken.None);
        await Eventually.UntilAsync(() => registry.Get("ctr-001")?.State == "ok", TimeSpan.FromSeconds(5), "the sensor to be ready");

        var open = false;
        for (var i = 0; i < 100; i++)
        {
            open = !open;
            sensor.Edge(open, time.GetUtcNow());
            await Consumed(sensor);
            time.Advance(TimeSpan.FromMilliseconds(10));
        }
        Assert.Empty(sink.Events);
        sensor.Edge(true, time.GetUtcNow());
        await Consumed(sensor);
        time.Advance(TimeSpan.FromSeconds(2));

        Assert.Equal(DoorEventKind.Opened, Assert.Single(sink.Events).Kind);
        await source.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_sensor_that_cannot_open_fails_alone_and_the_others_work()
    {
        var time = new ManualTimeProvider();
        var broken = new SimulatedSensor(false, openError: "cannot open GPIO chip gpiochip9: No such file or directory");
        var working = new SimulatedSensor(false);
        var (source, sink, registry) = Make(time, new() { ["ctr-bad"] = broken, ["ctr-ok"] = working });
        await source.StartAsync(CancellationToken.None);
        await Eventually.UntilAsync(() => registry.Get("ctr-bad")?.State == "failed" && registry.Get("ctr-ok")?.State == "ok",
            TimeSpan.FromSeconds(5), "both sensors to settle");

        Assert.Contains("gpiochip9", registry.Get("ctr-bad")!.Error);
        working.Edge(true, time.GetUtcNow());
        await Consumed(working);
        time.Advance(TimeSpan.FromMilliseconds(50));
        Assert.Equal("ctr-ok", Assert.Single(sink.Events).ContainerId);
        await source.StopAsync(CancellationToken.None);
    }

    [Fact]
    public void The_libgpiod_event_struct_has_the_C_layout()
    {
        // struct gpiod_line_event { struct timespec ts; int event_type; }
        Assert.Equal(IntPtr.Size == 8 ? 24 : 12, Marshal.SizeOf<LibGpiod.LineEvent>());
        Assert.Equal(IntPtr.Size * 2, (int)Marshal.OffsetOf<LibGpiod.LineEvent>(nameof(LibGpiod.LineEvent.EventType)));
        Assert.Equal(IntPtr.Size, (int)Marshal.OffsetOf<LibGpiod.Timespec>(nameof(LibGpiod.Timespec.Nanoseconds)));
    }

    [Fact]
    public void Opening_a_chip_that_is_not_there_is_a_clear_error_from_libgpiod_itself()
    {
        Assert.True(GpiodLine.TryLoadLibrary(out var loadError), loadError);
        Assert.False(GpiodLine.TryOpen("gpiochip9", 17, "piorchestrator-test", activeLow: true, "pull-up", out var line, out var error));
        Assert.Null(line);
        Assert.Contains("cannot open GPIO chip gpiochip9", error);
        Assert.Contains("No such file or directory", error);
        Assert.False(GpiodLine.TryOpen("/dev/gpiochip-none", 0, "piorchestrator-test", false, "as-is", out _, out var pathError));
        Assert.Contains("/dev/gpiochip-none", pathError);
    }

    [Theory]
    [InlineData(true, "pull-up", LibGpiod.GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW | LibGpiod.GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP)]
    [InlineData(false, "pull-down", LibGpiod.GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN)]
    [InlineData(false, "as-is", 0)]
    public void Request_flags_follow_the_configuration(bool activeLow, string bias, int flags) =>
        Assert.Equal(flags, GpiodLine.Flags(activeLow, bias));
}
