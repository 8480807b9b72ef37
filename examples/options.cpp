// Command-line parsing for the Fashion-MNIST examples: CLI11 compiled once, not in every example.
#include <CLI/CLI.hpp>

#include "fashion_common.hpp"
#include "flags.hpp"

namespace examples {

Options parse(int argc, char** argv, const std::string& description, const std::string& batches, Extras extras) {
  Options o;
  o.epochs = extras.epochs;
  CLI::App app(description);
  app.add_option("--epochs", o.epochs, "training epochs")->check(flags::at_least_one)->capture_default_str();
  app.add_option("--batch", o.batch, "batch size (compiled in: " + batches + ")");
  app.add_option("--lr", o.lr, "learning rate (default: the example's)")->check(flags::positive_finite);
  app.add_option("--seed", o.seed, "seed for initialisation and shuffling");
  app.add_option("--data", o.data, "directory with MNIST-format files (train-/t10k-images-idx3-ubyte[.gz], ...)")
      ->check(CLI::ExistingDirectory);
  app.add_flag("--confusion", o.confusion, "print the test confusion matrix");
  app.add_flag("--check-finite", o.check_finite,
               "after every kernel, check for NaN/Inf and stop naming the operation and layer that made it");
  app.add_flag("--stats", o.stats,
               "record mean, std, max |x| and zero fraction of every layer's output and gradient every --stats-every "
               "steps; print the table after each epoch");
  app.add_option("--stats-every", o.stats_every, "steps between recorded statistics (default 200)")
      ->check(flags::at_least_one);
  app.add_option("--stats-csv", o.stats_csv,
                 "write every recorded statistic to this CSV (implies --stats; finetune_fashion_mnist writes "
                 "FILE_all.csv and FILE_head.csv; plot with scripts/plot_stats.sh)")
      ->check(flags::writable_file);
  app.add_option("--history", o.history, "write epoch, mean training loss and test accuracy to this CSV file")
      ->check(flags::writable_file);
  std::size_t threads = extras.threads;
  app.add_option("--threads", threads,
                 "threads a training step may use (tg::set_num_threads; results are the same bit for bit)")
      ->check(flags::at_least_one)
      ->capture_default_str();
  app.add_option("--limit-steps", o.limit_steps, "stop each epoch after this many steps (smoke runs; 0: all)");
  if (extras.augment) {
    o.pad = 2;
    o.flip = true;
    app.add_option("--pad", o.pad, "augmentation: random crop from the image padded by this many pixels (0: none)")
        ->capture_default_str();
    app.add_option("--flip", o.flip, "augmentation: random horizontal flip (true/false)")->capture_default_str();
    app.add_option("--weight-decay", o.weight_decay, "L2 weight decay (default: the example's)")
        ->check(CLI::NonNegativeNumber);
  }
  if (extras.save)
    app.add_option("--save", o.save, "save the trained model to this safetensors file (PyTorch state_dict names)")
        ->check(flags::writable_file);
  if (extras.distributed) {
    app.add_flag("--distributed", o.distributed,
                 "data-parallel training over MPI (mpirun -np R ...): --batch is the global batch, each rank "
                 "computes 1/R of it; rank 0 prints and saves");
  }
  if (extras.checkpoint)
    app.add_option("--checkpoint", o.checkpoint, "where to save the checkpoint (default: " + o.checkpoint + ")")
        ->check(flags::writable_file);
  if (extras.classic) app.add_flag("--classic", o.classic, "the classic recipe: SGD lr 0.01, momentum 0.5");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(app.exit(e));
  }
  if (!o.stats_csv.empty()) o.stats = true;
  examples::flags::use_threads(threads);
  return o;
}

}  // namespace examples
