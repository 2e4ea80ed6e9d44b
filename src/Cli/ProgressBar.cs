using System.Diagnostics;

namespace Schedulers.Cli;

/// <summary>A one-line progress bar on stderr, redrawn at most ten times a second from a timer; silent when
/// disabled (stderr redirected or <c>--quiet</c>). <see cref="Advance"/> may be called from any thread.</summary>
public sealed class ProgressBar : IDisposable
{
    private const int Width = 30;
    private readonly long _total;
    private readonly string _label;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Timer? _timer;
    private readonly object _draw = new();
    private long _done;
    private bool _closed;

    /// <summary>A bar for <paramref name="total"/> units of work, drawn only when <paramref name="enabled"/>.</summary>
    public ProgressBar(string label, long total, bool enabled)
    {
        _label = label;
        _total = Math.Max(1, total);
        if (enabled) _timer = new Timer(_ => Draw(), null, 0, 100);
    }

    /// <summary>Adds <paramref name="units"/> finished units.</summary>
    public void Advance(long units) => Interlocked.Add(ref _done, units);

    private void Draw()
    {
        lock (_draw)
        {
            if (_closed) return;
            double f = Math.Min(1.0, Interlocked.Read(ref _done) / (double)_total);
            int filled = (int)(f * Width);
            Console.Error.Write($"\r{_label} [{new string('#', filled)}{new string('.', Width - filled)}] {f * 100,3:0}%  {_clock.Elapsed.TotalSeconds:0.0}s ");
        }
    }

    /// <summary>Draws the final state and ends the line.</summary>
    public void Dispose()
    {
        if (_timer is null) return;
        _timer.Dispose();
        Draw();
        lock (_draw)
        {
            _closed = true;
            Console.Error.WriteLine();
        }
    }
}
