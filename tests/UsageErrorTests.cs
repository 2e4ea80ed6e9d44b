using System.CommandLine;
using Schedulers.Cli;

namespace Schedulers.Tests;

/// <summary>A bad command line gives one line on stderr and exit code 2 in every command, whatever the parser
/// refuses; help shows no catch-all arguments.</summary>
public class UsageErrorTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = ParseErrors.Invoke(ToolCommand.Create(), args, new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }

    [Theory]
    [InlineData("bench --bogus", "bench: unknown option '--bogus'")]
    [InlineData("bench --threads 1 --threads 2", "bench: --threads is given more than once")]
    [InlineData("bench --quick --quick", "bench: --quick is given more than once")]
    [InlineData("sample --out a --out b", "sample: --out is given more than once")]
    [InlineData("sample --bogus 3", "sample: unknown option '--bogus'")]
    [InlineData("sample --noise torch", "sample: --noise is 'torch' but must be one of jax, torch-cpu, torch-cuda")]
    [InlineData("sample --cuda-device h100", "sample: --cuda-device needs --noise torch-cuda")]
    [InlineData("sample --noise torch-cuda --cuda-device gtx", "sample: --cuda-device is 'gtx' but must be one of h100, h100-pcie, a100, v100, l4, a10, t4, rtx4090, rtx4080, rtx3090, rtx3080")]
    [InlineData("sample --noise torch-cpu --shard 0/2", "sample: --shard needs --noise jax: a torch stream is drawn in one sequence by the whole run")]
    [InlineData("sample --target digits --noise torch-cpu", "sample: --noise does not apply to --target digits (the denoiser is an x0 model at σ, its noise comes from JAX keys, and a run is not sharded)")]
    [InlineData("merge --out a --out b", "merge: --out is given more than once")]
    [InlineData("compare --bogus", "compare: unknown option '--bogus'")]
    [InlineData("compare --samples 10 --samples 20", "compare: --samples is given more than once")]
    [InlineData("train --steps 1 --steps 2", "train: --steps is given more than once")]
    [InlineData("train stray", "train: unexpected argument 'stray'")]
    [InlineData("conformance --bogus x", "conformance: no golden file or directory at '--bogus'")]
    [InlineData("conformance --verbose --verbose x", "conformance: --verbose is given more than once")]
    [InlineData("bogus", "schedulers: unknown command 'bogus'")]
    [InlineData("", "schedulers: a command is needed")]
    public void Usage_errors_are_one_line_with_exit_code_2_in_every_command(string args, string message)
    {
        var (code, output, error) = Run(args.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(2, code);
        Assert.Equal("", output);
        var line = error.TrimEnd();
        Assert.DoesNotContain('\n', line);
        Assert.StartsWith(message, line);
        Assert.DoesNotContain("Usage:", error);
    }

    [Theory]
    [InlineData("sample")]
    [InlineData("merge")]
    [InlineData("compare")]
    [InlineData("train")]
    [InlineData("bench")]
    [InlineData("conformance")]
    public void Help_shows_no_catch_all_arguments(string command)
    {
        var (code, output, _) = Run(command, "--help");
        Assert.Equal(0, code);
        Assert.Contains("Usage:", output);
        Assert.DoesNotContain("additional arguments", output);
    }

    [Fact]
    public void Repeatable_config_option_may_be_given_twice()
    {
        Assert.Null(ParseErrors.Describe(ToolCommand.Create().Parse(["sample", "--config", "solver_order=2", "--config", "lower_order_final=true"])));
    }
}
