using System.Device.Gpio;
using System.Device.Gpio.Drivers;
using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;
using PiOrchestrator.Site;

namespace PiOrchestrator.Doors;

public readonly record struct DoorEdge(bool IsOpen, DateTimeOffset At);

/// <summary>
/// A reed switch on a GPIO line through System.Device.Gpio: the line's active level (low when <c>ActiveLow</c>) means
/// the door is closed, the switch being held by its magnet. Edges arrive on the driver's own thread and are handed
/// to a channel at once.
/// </summary>
public sealed class GpioDoorSensor : IDisposable
{
    // A stalled reader must not grow memory under a chattering contact; the newest edges decide the level.
    private const int EdgeBuffer = 256;

    private readonly GpioController _controller;
    private readonly int _line;
    private readonly bool _activeLow;
    private readonly TimeProvider _time;
    private readonly bool _holdsPoolThread;
    private readonly Channel<DoorEdge> _edges = Channel.CreateBounded<DoorEdge>(
        new BoundedChannelOptions(EdgeBuffer) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
    private static readonly Lock PoolLock = new();
    private volatile Exception? _callbackFault;

    private GpioDoorSensor(GpioController controller, DoorSensorOptions options, TimeProvider time, bool holdsPoolThread)
    {
        _controller = controller;
        _line = options.Line;
        _activeLow = options.ActiveLow;
        _time = time;
        _holdsPoolThread = holdsPoolThread;
    }

    /// <summary>Requests the line for both edges with the configured bias; false with the driver's reason. Owns <paramref name="driver"/> either way.</summary>
    public static bool TryOpen(GpioDriver driver, DoorSensorOptions options, TimeProvider time, [NotNullWhen(true)] out GpioDoorSensor? sensor, out string error)
    {
        sensor = null;
        error = "";
        var controller = new GpioController(driver);
        var mode = BiasMode(options.Bias);
        try
        {
            if (mode is { } m && !controller.IsPinModeSupported(options.Line, m))
            {
                error = $"{options.Chip} line {options.Line}: the GPIO driver cannot set bias {options.Bias} (libgpiod older than 1.5?)";
                DisposeQuietly(controller);
                return false;
            }
            if (mode is { } pinMode) controller.OpenPin(options.Line, pinMode);
            else controller.OpenPin(options.Line);
            // libgpiod 1's driver watches each pin from a thread-pool task that blocks for good: one more pool thread, or
            // the agent's own work would wait for the pool to grow.
            var holdsPoolThread = driver is LibGpiodDriver;
            if (holdsPoolThread) AdjustPoolMinimum(+1);
            sensor = new GpioDoorSensor(controller, options, time, holdsPoolThread);
            controller.RegisterCallbackForPinValueChangedEvent(options.Line, PinEventTypes.Rising | PinEventTypes.Falling, sensor.OnEdge);
            return true;
        }
        catch (Exception ex)
        {
            error = $"cannot request {options.Chip} line {options.Line} for edge events (in use by another program?): {LibGpiodDriverFactory.Reason(ex)}";
            if (sensor is not null) sensor.Dispose();
            else DisposeQuietly(controller);
            sensor = null;
            return false;
        }
    }

    /// <summary>
    /// The pin mode for a bias setting; null leaves the line as it is. libgpiod 2 maps Input to bias disabled; libgpiod 1
    /// cannot disable a bias, and through System.Device.Gpio requests the edge events themselves without bias flags.
    /// </summary>
    public static PinMode? BiasMode(string bias) => bias switch
    {
        "pull-up" => PinMode.InputPullUp,
        "pull-down" => PinMode.InputPullDown,
        "disable" => PinMode.Input,
        _ => null,
    };

    /// <summary>True when the door is open now. Throws <see cref="IOException"/> when the line cannot be read.</summary>
    public bool ReadIsOpen()
    {
        if (_callbackFault is { } fault) throw new IOException($"the GPIO edge callback failed: {fault.Message}", fault);
        try
        {
            return IsOpen(_controller.Read(_line));
        }
        catch (Exception ex) when (ex is not IOException)
        {
            throw new IOException($"reading the line failed: {LibGpiodDriverFactory.Reason(ex)}", ex);
        }
    }

    public ChannelReader<DoorEdge> Edges => _edges.Reader;

    private bool IsOpen(PinValue level) => (level == PinValue.High) == _activeLow;

    // Runs on the driver's event thread: an exception escaping here would end that thread's loop, so none may.
    private void OnEdge(object sender, PinValueChangedEventArgs e)
    {
        try
        {
            var level = e.ChangeType == PinEventTypes.Rising ? PinValue.High : PinValue.Low;
            _edges.Writer.TryWrite(new DoorEdge(IsOpen(level), _time.GetUtcNow()));
        }
        catch (Exception ex)
        {
            _callbackFault = ex;
        }
    }

    public void Dispose()
    {
        _edges.Writer.TryComplete();
        DisposeQuietly(_controller);
        if (_holdsPoolThread) AdjustPoolMinimum(-1);
    }

    // libgpiod 1's driver rethrows a failed event task from Dispose; closing must not fail the caller.
    private static void DisposeQuietly(GpioController controller)
    {
        try
        {
            controller.Dispose();
        }
        catch (Exception)
        {
        }
    }

    private static void AdjustPoolMinimum(int by)
    {
        lock (PoolLock)
        {
            ThreadPool.GetMinThreads(out var workers, out var io);
            ThreadPool.SetMinThreads(Math.Max(1, workers + by), io);
        }
    }
}
